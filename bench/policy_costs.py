"""The formula's and the cost-optimised policies side by side, from a plan's replay.

Reads ``policy_simulation`` and ``reorder_plan`` of one run date from a warehouse (the demo's
after ``make demo``) and prints, per echelon (stores; DCs replayed on their stores' orders)
and variant: total cost (holding, ordering, shortage) and service against target, overall
and per policy; and how the plan lines' choices fell.

Usage (from the project root)::

    make demo
    .venv/bin/python bench/policy_costs.py --warehouse warehouse --run-date 2026-06-30
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Z = 1.959964  # the standard normal's 97.5% quantile
Z2 = Z * Z

QUERIES = {
    "overall (the policy_simulation overall rows)": """
        SELECT variant, echelon, target_type, cycles, round(target, 4) AS target,
               round(achieved_csl, 4) AS csl, round(achieved_fill_rate, 4) AS fill_rate,
               round(holding_cost) AS holding, round(ordering_cost) AS ordering,
               round(shortage_cost) AS shortage, round(total_cost) AS total
        FROM sim WHERE level = 'overall' ORDER BY echelon DESC, target_type, variant""",
    # csl_low and csl_high: the Wilson 95% interval of the cycle service, cycles taken as
    # independent trials. A target inside it is not missed on this evidence: at 95% service
    # the interval is about 13 pp wide with 50 cycles, 2 pp with 2,000.
    "CSL-target series by policy": f"""
        SELECT echelon, policy, variant, cycles, target, round(csl, 4) AS csl,
               round(center - half, 4) AS csl_low, round(center + half, 4) AS csl_high, total
        FROM (SELECT *, (csl + {Z2} / (2 * cycles)) / (1 + {Z2} / cycles) AS center,
                     {Z} * sqrt(csl * (1 - csl) / cycles + {Z2} / (4 * cycles * cycles))
                         / (1 + {Z2} / cycles) AS half
              FROM (SELECT echelon, policy, variant, sum(cycles) AS cycles,
                           round(sum(target * cycles) / sum(cycles), 4) AS target,
                           1 - sum(stockout_cycles) / sum(cycles) AS csl,
                           round(sum(total_cost)) AS total
                    FROM sim WHERE level = 'series' AND status = 'ok' AND target_type = 'csl'
                    GROUP BY echelon, policy, variant))
        ORDER BY echelon DESC, policy, variant""",
    "all series": """
        SELECT echelon, variant, round(sum(total_cost)) AS total,
               round(sum(holding_cost)) AS holding, round(sum(ordering_cost)) AS ordering,
               round(sum(shortage_cost)) AS shortage
        FROM sim WHERE level = 'series' AND status = 'ok'
        GROUP BY echelon, variant ORDER BY echelon DESC, variant""",
    "the plan lines' choices": """
        SELECT cost_status, policy, count(*) AS lines,
               round(avg(cost_safety_factor - safety_factor), 2) AS more_k,
               round(avg(cost_lot_multiplier), 2) AS lot_multiplier,
               round(avg(cost_review_period / review_period), 2) AS review_multiplier,
               round(sum(simulated_cost) / sum(simulated_formula_cost), 4) AS sampled_cost_ratio
        FROM plan WHERE cost_status IS NOT NULL GROUP BY cost_status, policy ORDER BY 1, 2""",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date(2026, 6, 30))
    args = parser.parse_args(argv)

    import pyspark.sql.functions as F

    from skuplan.session import local_builder

    options = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"}
    spark = local_builder("local[2]", ROOT / ".cache" / "jars", options, "policy-costs").getOrCreate()  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    for view, table in (("sim", "gold/policy_simulation"), ("plan", "gold/reorder_plan")):
        df = spark.read.format("delta").load(str(args.warehouse.resolve() / table))
        df = df.filter(df.run_date == args.run_date)
        # Rows written before the DCs were replayed have no echelon: stores.
        echelon = F.col("echelon") if "echelon" in df.columns else F.lit(None).cast("string")
        df = df.withColumn("echelon", F.coalesce(echelon, F.lit("store")))
        df.createOrReplaceTempView(view)
    for title, query in QUERIES.items():
        print(f"\n{title}")
        spark.sql(query).show(100, truncate=False)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
