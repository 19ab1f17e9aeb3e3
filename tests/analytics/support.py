"""Running the dbt project in-process from tests, and reading its marts back on both engines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.analytics_dbt import DBT_DIR, dbt_env, dbt_target, temporary_environ
from pipelines.settings import Settings

MARTS = (
    "daily_track_stats",
    "daily_artist_stats",
    "weekly_country_charts",
    "user_listening_history",
    "monthly_qualified_streams",
)

Table = tuple[tuple[str, ...], list[tuple[Any, ...]]]
"""(column names, sorted), rows with values in that column order, sorted."""


def run_dbt(
    settings: Settings,
    args: list[str],
    workdir: Path,
    dbt_vars: Mapping[str, Any],
    extra_env: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Invoke dbt in this process (one JVM for the Spark target) and fail on any error or warning.

    Returns (unique_id, status) of every node that ran.
    """
    from dbt.cli.main import dbtRunner

    command = [
        *args,
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target", dbt_target(settings),
        "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"),
        "--vars", json.dumps(dict(dbt_vars)),
    ]  # fmt: skip
    assert settings.warehouse_path is not None
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with temporary_environ({**dbt_env(settings), **(extra_env or {})}):
            outcome = dbtRunner().invoke(command)
    finally:
        _release_duckdb()
    if outcome.exception is not None:
        raise AssertionError(f"dbt {' '.join(args)} raised: {outcome.exception}")
    results = [(r.node.unique_id, str(r.status)) for r in outcome.result.results]
    bad = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in outcome.result.results
        if str(r.status) not in ("success", "pass")
    ]
    assert outcome.success and not bad, "dbt " + " ".join(args) + " failed:\n" + "\n".join(bad)
    return results


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open in a class attribute between in-process runs; close
    it so the test (and the next run, with other settings) can open the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is None, value) for value in row)


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> Table:
    order = sorted(range(len(columns)), key=lambda i: columns[i])
    names = tuple(columns[i] for i in order)
    ordered = [tuple(row[i] for i in order) for row in rows]
    return names, sorted(ordered, key=_sort_key)


def duckdb_marts(path: Path) -> dict[str, Table]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        out = {}
        for mart in MARTS:
            cursor = con.execute(f"select * from marts.{mart}")
            columns = [d[0] for d in cursor.description]
            out[mart] = _table(columns, cursor.fetchall())
        return out


def spark_marts(spark: Any) -> dict[str, Table]:
    out = {}
    for mart in MARTS:
        frame = spark.table(f"marts.{mart}")
        columns = list(frame.columns)
        out[mart] = _table(columns, [tuple(row) for row in frame.collect()])
    return out


def as_dicts(table: Table) -> list[dict[str, Any]]:
    names, rows = table
    return [dict(zip(names, row, strict=True)) for row in rows]
