"""spark-submit entry point: `generate_demo_data` (see skuplan.pipeline.demo).

``--force`` (the same as ``--set demo.force=true``) replaces raw tables that the demo did
not write.
"""

import sys

from skuplan.cli import main
from skuplan.pipeline import demo

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--force" in args:
        args = [a for a in args if a != "--force"] + ["--set", "demo.force=true"]
    sys.exit(main("generate_demo_data", demo.run, args))
