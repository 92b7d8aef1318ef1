"""The forecast engine: cross-validate -> select -> forecast per series (pure pandas), and
its Spark transport."""
