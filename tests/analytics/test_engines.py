"""The same marts from the same lake on DuckDB and Spark, row for row; partitioned runs that
compose and re-run without double counting; marts checked against a plain-Python count."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.analytics_dbt import dbt_env, dbt_vars
from pipelines.settings import Settings
from tests.analytics.handmade_lake import HandmadeLake, Play, mixed_lake
from tests.analytics.support import MARTS, Table, as_dicts, duckdb_marts, run_dbt, spark_marts

FIRST, LAST = dt.date(2026, 9, 26), dt.date(2026, 10, 6)
# Thursday 1 October: its ISO week (28 Sep - 4 Oct) straddles two months.
RERUN_DAY = dt.date(2026, 10, 1)
THRESHOLD = 30_000


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> HandmadeLake:
    built = mixed_lake(tmp_path_factory.mktemp("engines") / "lake")
    days = sorted({p.day for p in built.plays})
    assert (days[0], days[-1], len(days)) == (FIRST, LAST, 11)
    assert len(built.plays) >= 300 and built.flagged
    return built


def _settings(lake: HandmadeLake, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, lake_url=str(lake.root), **overrides)


@pytest.fixture(scope="module")
def duckdb_runs(
    lake: HandmadeLake, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Table]]:
    """Warehouse A: all days at once, then RERUN_DAY again. Warehouse B: two partial ranges."""
    root = tmp_path_factory.mktemp("duckdb")
    a = _settings(lake, root / "a")
    run_dbt(a, ["build"], root / "dbt-a", dbt_vars(a, FIRST, LAST))
    full = duckdb_marts(a.warehouse_path)
    run_dbt(a, ["build", "--select", "marts"], root / "dbt-a", dbt_vars(a, RERUN_DAY, RERUN_DAY))
    rerun = duckdb_marts(a.warehouse_path)
    b = _settings(lake, root / "b")
    run_dbt(b, ["build"], root / "dbt-b", dbt_vars(b, FIRST, RERUN_DAY - dt.timedelta(days=1)))
    run_dbt(b, ["build"], root / "dbt-b", dbt_vars(b, RERUN_DAY, LAST))
    return {"full": full, "rerun": rerun, "ranges": duckdb_marts(b.warehouse_path)}


@pytest.fixture(scope="module")
def spark_run(
    lake: HandmadeLake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Table]]:
    """All days at once, then RERUN_DAY again (insert_overwrite), in one in-process Spark session."""
    pytest.importorskip("pyspark")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if (
        SparkContext._active_spark_context is not None
    ):  # a session left by another test: not Hive-enabled
        SparkSession.builder.getOrCreate().stop()
    root = tmp_path_factory.mktemp("spark")
    settings = _settings(lake, root / "data", dbt_target="spark", spark_master="local[2]")
    conf = json.loads(dbt_env(settings)["DBT_CONGOWAVE_SPARK_CONF"])
    conf.update({
        "spark.sql.shuffle.partitions": "1",  # tiny data: one task per stage
        # The metastore in this test's folder even if an earlier test already started the JVM.
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={root / 'data' / 'metastore_db'};create=true",
    })  # fmt: skip
    extra = {"DBT_CONGOWAVE_SPARK_CONF": json.dumps(conf), "DBT_CONGOWAVE_THREADS": "4"}
    try:
        run_dbt(settings, ["build"], root / "dbt", dbt_vars(settings, FIRST, LAST), extra)
        run_dbt(
            settings,
            ["run", "--select", "marts"],
            root / "dbt",
            dbt_vars(settings, RERUN_DAY, RERUN_DAY),
            extra,
        )
        spark = SparkSession.builder.getOrCreate()
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
        yield spark_marts(spark)
    finally:
        if SparkContext._active_spark_context is not None:
            SparkSession.builder.getOrCreate().stop()


def _expected(lake: HandmadeLake) -> dict[str, list[dict[str, Any]]]:
    """daily_track_stats, weekly_country_charts and monthly_qualified_streams, counted in Python."""
    daily: dict[tuple, list[Play]] = defaultdict(list)
    for p in lake.plays:
        daily[(p.day, p.track_id, p.country)].append(p)
    track_rows = []
    for (day, track, country), plays in daily.items():
        kept = [p for p in plays if p.event_id not in lake.flagged]
        track_rows.append({
            "play_date": day, "track_id": track, "country": country, "artist_id": lake.tracks[track],
            "plays": len(kept), "qualified_streams": sum(p.ms_played >= THRESHOLD for p in kept),
            "unique_listeners": len({p.user_id for p in kept}), "skips": sum(p.skipped for p in kept),
            "saves": sum(p.saved for p in kept), "listening_ms": sum(p.ms_played for p in kept),
            "flagged_plays": len(plays) - len(kept),
        })  # fmt: skip
    streams = [p for p in lake.plays if p.ms_played >= THRESHOLD and p.event_id not in lake.flagged]
    weekly: dict[tuple, list[Play]] = defaultdict(list)
    monthly: dict[tuple, list[Play]] = defaultdict(list)
    for p in streams:
        weekly[(p.day - dt.timedelta(days=p.day.weekday()), p.country, p.track_id)].append(p)
        plan = lake.users[p.user_id]
        monthly[(p.day.replace(day=1), p.country, plan, p.user_id, p.track_id)].append(p)
    charts: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for (week, country, track), plays in weekly.items():
        charts[(week, country)].append({
            "week_start": week, "iso_week": f"{week.isocalendar()[0]}-W{week.isocalendar()[1]:02d}",
            "country": country, "track_id": track, "artist_id": lake.tracks[track],
            "streams": len(plays), "listeners": len({p.user_id for p in plays}),
        })  # fmt: skip
    chart_rows = []
    for entries in charts.values():
        entries.sort(key=lambda e: (-e["streams"], -e["listeners"], e["track_id"]))
        chart_rows += [{**e, "chart_rank": i} for i, e in enumerate(entries[:50], start=1)]
    month_rows = [
        {"month_start": m, "country": c, "plan": plan, "user_id": u, "track_id": t, "artist_id": lake.tracks[t],
         "streams": len(plays), "chosen_streams": sum(p.source in ("search", "playlist") for p in plays),
         "listening_ms": sum(p.ms_played for p in plays)}
        for (m, c, plan, u, t), plays in monthly.items()
    ]  # fmt: skip
    return {
        "daily_track_stats": track_rows,
        "weekly_country_charts": chart_rows,
        "monthly_qualified_streams": month_rows,
    }


def _canonical(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted(tuple(sorted(r.items())) for r in rows)


def test_marts_match_a_plain_count(
    duckdb_runs: dict[str, dict[str, Table]], lake: HandmadeLake
) -> None:
    full = duckdb_runs["full"]
    for mart, rows in _expected(lake).items():
        assert _canonical(as_dicts(full[mart])) == _canonical(rows), mart
    # the data exercises what it should: two months, three ISO weeks, fraud, both boundaries
    assert {r["month_start"] for r in as_dicts(full["monthly_qualified_streams"])} == {
        dt.date(2026, 9, 1),
        dt.date(2026, 10, 1),
    }
    assert len({r["week_start"] for r in as_dicts(full["weekly_country_charts"])}) == 3
    assert sum(r["flagged_plays"] for r in as_dicts(full["daily_track_stats"])) == len(lake.flagged)
    assert {29_999, 30_000} <= {p.ms_played for p in lake.plays}


def test_rerunning_a_day_changes_nothing(duckdb_runs: dict[str, dict[str, Table]]) -> None:
    for mart in MARTS:
        assert duckdb_runs["rerun"][mart] == duckdb_runs["full"][mart], mart
        assert duckdb_runs["full"][mart][1], f"{mart} is empty"


def test_partial_ranges_compose_to_the_full_build(duckdb_runs: dict[str, dict[str, Table]]) -> None:
    # The second range recomputes the week of 28 Sep and the month of October whole.
    for mart in MARTS:
        assert duckdb_runs["ranges"][mart] == duckdb_runs["full"][mart], mart


@pytest.mark.spark
@pytest.mark.slow
def test_spark_and_duckdb_build_identical_marts(
    duckdb_runs: dict[str, dict[str, Table]], spark_run: dict[str, Table]
) -> None:
    for mart in MARTS:
        duck_columns, duck_rows = duckdb_runs["rerun"][mart]
        spark_columns, spark_rows = spark_run[mart]
        assert spark_columns == duck_columns, mart
        assert len(spark_rows) == len(duck_rows), mart
        assert spark_rows == duck_rows, mart
        assert all(type(a) is type(b) for a, b in zip(spark_rows[0], duck_rows[0], strict=True)), (
            mart
        )
