"""``python -m skuplan``: the ``skuplan`` command (see :mod:`skuplan.command`)."""

from skuplan.command import script

script()
