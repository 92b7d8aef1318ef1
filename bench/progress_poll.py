"""What the forecast's progress lines cost: one poll of Spark's status tracker on the driver,
timed while a job runs (the executors do no work for it).

    .venv/bin/python bench/progress_poll.py
"""

import threading
import time
from pathlib import Path

from skuplan.session import local_builder

ROOT = Path(__file__).resolve().parents[1]


def main(polls: int = 200) -> None:
    spark = local_builder("local[1]", ROOT / ".cache" / "jars", {}).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    job = threading.Thread(
        target=lambda: (
            spark.range(0, 8, numPartitions=8).rdd.map(lambda x: time.sleep(1) or x).count()
        )
    )
    job.start()
    time.sleep(2)  # a stage is running
    tracker = spark.sparkContext.statusTracker()
    started = time.perf_counter()
    for _ in range(polls):
        [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
    each = (time.perf_counter() - started) / polls
    job.join()
    print(f"one poll {each * 1000:.2f} ms; one a minute is {each / 60:.4%} of the driver's time")


if __name__ == "__main__":
    main()
