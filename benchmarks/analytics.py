"""Benchmark: listening events in the lake to the `daily_track_stats` mart, DuckDB vs Spark local mode.

For a world folder whose ``listening_events`` and ``fraud_flags`` are published
(lake root = the world folder; the large world is 100M events), it runs the same
dbt selection, ``+daily_track_stats`` (staging views, ``int_plays``, the mart),
for every play day on each target in turn, each in a fresh warehouse under a
temporary folder, and prints wall time and peak memory (dbt and,
for Spark, its JVM: every process of the tree, sampled) with the Spark/DuckDB
ratio. Both marts are then compared (row count, plays, streams, listening
time), so the figures are for the same answer. Target on the 2-core machine:
the DuckDB path under 2 minutes and 8 GB.

    .venv/bin/python benchmarks/analytics.py --world /tmp/worlds/large
    .venv/bin/python benchmarks/analytics.py --world /tmp/worlds/small --targets duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import PeakMemory  # noqa: E402
from pipelines.analytics_dbt import DBT_DIR, dbt_env, dbt_executable, dbt_target, dbt_vars  # noqa: E402
from pipelines.event_loading import published_days  # noqa: E402
from pipelines.lake import Lake  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

DUCKDB_TIME_BUDGET_S = 120.0
DUCKDB_MEMORY_BUDGET = 8 * 1024**3
SUMMARY_SQL = (
    "select count(*) as rows, sum(plays) as plays, sum(qualified_streams) as streams, "
    "sum(listening_ms) as listening_ms, sum(flagged_plays) as flagged from marts.daily_track_stats"
)


@dataclass
class Result:
    target: str
    wall_s: float
    peak_bytes: int
    summary: dict[str, int]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _dbt(settings: Settings, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run dbt for the settings' target, streaming its log lines (progress) to stderr."""
    env = {**os.environ, **dbt_env(settings)}
    command = [dbt_executable(), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
               "--target", dbt_target(settings), "--target-path", str(settings.data_dir / "dbt-target"),
               "--log-path", str(settings.data_dir / "dbt-logs")]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if " OK " in line or "ERROR" in line or "Completed" in line or "Done." in line:
            _log("    " + line.rstrip())
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed on {dbt_target(settings)}:\n" + "".join(lines[-40:]))
    return subprocess.CompletedProcess(command, proc.returncode, "".join(lines), "")


def run_target(world: Path, target: str, work: Path, first: str, last: str, driver_memory: str) -> Result:
    data = work / target
    settings = Settings(
        data_dir=data, lake_url=str(world), dbt_target=target, spark_driver_memory=driver_memory
    )
    _log(f"[{target}] dbt parse")
    _dbt(settings, ["parse"])
    vars_ = json.dumps(dbt_vars(settings, first, last))
    _log(f"[{target}] dbt run --select +daily_track_stats for {first} .. {last}")
    started = time.perf_counter()
    with PeakMemory() as peak:
        _dbt(settings, ["run", "--select", "+daily_track_stats", "--vars", vars_])
    wall = time.perf_counter() - started
    return Result(target, wall, peak.peak, read_summary(settings, target))


def read_summary(settings: Settings, target: str) -> dict[str, int]:
    """Totals of the mart, read back from the engine that built it."""
    if target == "duckdb":
        import duckdb

        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            cur = con.execute(SUMMARY_SQL)
            names = [d[0] for d in cur.description]
            row = cur.fetchall()[0]
    else:
        from pyspark.sql import SparkSession

        from pipelines.resources import spark_config

        builder = SparkSession.builder.enableHiveSupport()
        for key, value in spark_config(settings).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        try:
            frame = spark.sql(SUMMARY_SQL)
            names, row = frame.columns, tuple(frame.collect()[0])
        finally:
            spark.stop()
    assert row is not None
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="world folder with events and fraud flags loaded")
    parser.add_argument("--targets", default="duckdb,spark", help="comma-separated: duckdb, spark")
    parser.add_argument("--spark-driver-memory", default="6g")
    parser.add_argument("--workdir", type=Path, default=None, help="where the warehouses go (default: a temp dir)")
    args = parser.parse_args()

    lake = Lake(str(args.world.resolve()))
    days = [d.isoformat() for d in published_days(lake, "listening_events")]
    screened = {d.isoformat() for d in published_days(lake, "fraud_flags")}
    if not days or not set(days) <= screened:
        raise SystemExit(f"{args.world}: every listening_events day needs its fraud_flags published first")
    events = sum(lake.size(f) for f in (f"listening_events/date={d}/part-00000.parquet" for d in days))
    _log(f"{len(days)} play days ({days[0]} .. {days[-1]}), {events / 1e9:.2f} GB of events Parquet")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-analytics-", dir=args.workdir) as tmp:
        for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
            results.append(run_target(args.world.resolve(), target, Path(tmp), days[0], days[-1],
                                      args.spark_driver_memory))  # fmt: skip

    print(f"\nlake -> daily_track_stats, {len(days)} play days, {results[0].summary.get('plays', 0) + results[0].summary.get('flagged', 0):,} plays")  # noqa: E501
    print(f"{'target':8} {'wall s':>8} {'peak GB':>8} {'mart rows':>10} {'streams':>12}")
    for r in results:
        print(f"{r.target:8} {r.wall_s:8.1f} {r.peak_bytes / 1024**3:8.2f} "
              f"{r.summary['rows']:>10,} {r.summary['streams']:>12,}")  # fmt: skip
    by = {r.target: r for r in results}
    if "duckdb" in by and "spark" in by:
        d, s = by["duckdb"], by["spark"]
        print(f"ratio spark/duckdb: wall {s.wall_s / d.wall_s:.2f}x, peak memory {s.peak_bytes / d.peak_bytes:.2f}x")
        print(f"same mart totals on both engines: {d.summary == s.summary}")
    if "duckdb" in by:
        d = by["duckdb"]
        ok = d.wall_s < DUCKDB_TIME_BUDGET_S and d.peak_bytes < DUCKDB_MEMORY_BUDGET
        print(f"DuckDB target (< {DUCKDB_TIME_BUDGET_S:.0f} s, < 8 GB): {'PASS' if ok else 'FAIL'}")
    print(f"load average at the end {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
