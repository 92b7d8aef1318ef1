"""Job stages: each ``run(spark, conf)`` reads its inputs, transforms, validates and writes.

The only layer that knows table keys, :class:`~skuplan.conf.Conf` and Delta: a stage unpacks
its settings into plain arguments for the domain functions it chains, and writes through
:class:`skuplan.pipeline.io.StageTables`. Only the ``main`` of a job entry script touches
argv, the environment and session creation.
"""
