"""DuckDB reading lake Parquet from (moto) S3 through s3fs, with no DuckDB extension.

The runtime has no internet, so httpfs can never be installed; these tests prove the
registered fsspec filesystem is enough and that DuckDB never reaches for httpfs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lake import Lake, LakeError

DAYS = {
    "2026-01-01": [("t1", 3), ("t2", 5)],
    "2026-01-02": [("t1", 7)],
    "2026-01-03": [("t2", 1), ("t3", 2), ("t3", 4)],
}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    # Belt and braces: were DuckDB to want httpfs, fail loudly instead of downloading.
    connection.execute("SET autoinstall_known_extensions = false")
    yield connection
    connection.close()


def _plays(rows: list[tuple[str, int]]) -> pa.Table:
    return pa.table({"track_id": [r[0] for r in rows], "plays": [r[1] for r in rows]})


def _publish_days(lake: Lake, prefix: str, days: dict[str, list[tuple[str, int]]]) -> None:
    files = {}
    for day, rows in days.items():
        sink = pa.BufferOutputStream()
        pq.write_table(_plays(rows), sink)
        files[f"date={day}/part-0.parquet"] = sink.getvalue().to_pybytes()
    lake.publish(prefix, files)


def _assert_no_extension_loaded(con: duckdb.DuckDBPyConnection) -> None:
    used = con.execute(
        "SELECT extension_name FROM duckdb_extensions() "
        "WHERE (loaded OR installed) AND extension_name IN ('httpfs', 'aws', 'azure')"
    ).fetchall()
    assert used == []


def test_duckdb_aggregates_hive_parquet_on_s3(s3_lake: Lake, con) -> None:
    _publish_days(s3_lake, "gold/plays", DAYS)
    s3_lake.register_with_duckdb(con)
    glob = s3_lake.duckdb_glob("gold/plays/*/*.parquet")
    assert glob.startswith("s3://")

    rows = con.execute(
        f"SELECT date, count(*) AS n, sum(plays) AS plays "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY date ORDER BY date"
    ).fetchall()
    assert rows == [
        (dt.date(2026, 1, 1), 2, 8),
        (dt.date(2026, 1, 2), 1, 7),
        (dt.date(2026, 1, 3), 3, 7),
    ]
    per_track = con.execute(
        f"SELECT track_id, sum(plays) FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_track == [("t1", 10), ("t2", 6), ("t3", 6)]
    _assert_no_extension_loaded(con)


def test_republish_leaves_no_stale_partitions_for_globs(s3_lake: Lake, con) -> None:
    # DuckDB globs the prefix and ignores manifests, so publish must prune old files.
    _publish_days(s3_lake, "gold/plays", DAYS)
    _publish_days(s3_lake, "gold/plays", {"2026-01-03": DAYS["2026-01-03"]})
    s3_lake.register_with_duckdb(con)
    glob = s3_lake.duckdb_glob("gold/plays/*/*.parquet")
    dates = con.execute(
        f"SELECT DISTINCT date FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    assert dates == [(dt.date(2026, 1, 3),)]


def test_register_is_idempotent(s3_lake: Lake, moto_s3, con) -> None:
    s3_lake.register_with_duckdb(con)
    Lake(moto_s3.fresh_root(), moto_s3.s3_options()).register_with_duckdb(con)
    assert con.list_filesystems() == ["s3"]


def test_local_lake_needs_no_registration(local_lake: Lake, con) -> None:
    _publish_days(local_lake, "gold/plays", DAYS)
    local_lake.register_with_duckdb(con)
    assert con.list_filesystems() == []
    total = con.execute(
        f"SELECT sum(plays) FROM read_parquet('{local_lake.duckdb_glob('gold/plays/*/*.parquet')}')"
    ).fetchone()
    assert total == (22,)
    _assert_no_extension_loaded(con)


@pytest.mark.parametrize("bad", ["gold/it's/*.parquet", "../*.parquet", "/etc/*", "gold//*"])
def test_duckdb_glob_is_validated(s3_lake: Lake, bad: str) -> None:
    with pytest.raises(LakeError):
        s3_lake.duckdb_glob(bad)
