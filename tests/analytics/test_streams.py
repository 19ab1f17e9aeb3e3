"""What counts as a stream: the 30,000 ms boundary (a setting) and fraud exclusion, on DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.analytics_dbt import dbt_vars
from pipelines.settings import Settings
from tests.analytics.handmade_lake import boundary_lake
from tests.analytics.support import Table, as_dicts, duckdb_marts, run_dbt

DAY = dt.date(2026, 9, 7)


@pytest.fixture(scope="module")
def boundary_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Settings, Path, dict[str, Table]]:
    """The boundary lake built at the default threshold; the marts as they were after that build."""
    root = tmp_path_factory.mktemp("boundary")
    boundary_lake(root / "lake")
    settings = Settings(data_dir=root / "data", lake_url=str(root / "lake"))
    assert settings.stream_threshold_ms == 30_000
    run_dbt(settings, ["build"], root / "dbt", dbt_vars(settings, DAY, DAY))
    return settings, root, duckdb_marts(settings.warehouse_path)


def _int_plays(settings: Settings) -> dict[str, tuple[bool, bool, bool, bool]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select event_id, is_qualified_stream, is_fraud, is_counted_stream, is_chosen from intermediate.int_plays"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_29999_ms_is_not_a_stream_and_30000_ms_is(
    boundary_build: tuple[Settings, Path, dict[str, Table]],
) -> None:
    settings, _, _ = boundary_build
    flags = _int_plays(settings)
    #                    qualified, fraud, counted, chosen
    assert flags["e-29999"] == (False, False, False, True)
    assert flags["e-30000"] == (True, False, True, False)
    assert flags["e-30001"] == (True, False, True, True)
    assert flags["e-fraud"] == (True, True, False, True)
    assert flags["e-short"] == (False, False, False, True)


def test_flagged_plays_count_nowhere_but_flagged_plays(
    boundary_build: tuple[Settings, Path, dict[str, Table]],
) -> None:
    _, _, built = boundary_build
    marts = {name: as_dicts(table) for name, table in built.items()}
    assert sorted(marts["daily_track_stats"], key=lambda r: r["track_id"]) == [
        {"play_date": DAY, "track_id": "TRK_A", "country": "CD", "artist_id": "art_1", "plays": 3,
         "qualified_streams": 2, "unique_listeners": 2, "skips": 0, "saves": 1,
         "listening_ms": 29_999 + 30_000 + 30_001, "flagged_plays": 1},
        {"play_date": DAY, "track_id": "TRK_B", "country": "CD", "artist_id": "art_1", "plays": 1,
         "qualified_streams": 0, "unique_listeners": 1, "skips": 1, "saves": 0, "listening_ms": 1_000,
         "flagged_plays": 0},
    ]  # fmt: skip
    assert marts["daily_artist_stats"] == [
        {"play_date": DAY, "artist_id": "art_1", "country": "CD", "plays": 4, "qualified_streams": 2,
         "unique_listeners": 2, "tracks_played": 2, "skips": 1, "saves": 1, "listening_ms": 91_000,
         "flagged_plays": 1},
    ]  # fmt: skip
    assert marts["weekly_country_charts"] == [
        {"week_start": DAY, "iso_week": "2026-W37", "country": "CD", "chart_rank": 1, "track_id": "TRK_A",
         "artist_id": "art_1", "streams": 2, "listeners": 2},
    ]  # fmt: skip
    month = dt.date(2026, 9, 1)
    assert sorted(marts["monthly_qualified_streams"], key=lambda r: r["user_id"]) == [
        {"month_start": month, "country": "CD", "plan": "free", "user_id": "u1", "track_id": "TRK_A",
         "artist_id": "art_1", "streams": 1, "chosen_streams": 0, "listening_ms": 30_000},
        {"month_start": month, "country": "CD", "plan": "premium", "user_id": "u2", "track_id": "TRK_A",
         "artist_id": "art_1", "streams": 1, "chosen_streams": 1, "listening_ms": 30_001},
    ]  # fmt: skip
    history = {(r["user_id"], r["track_id"]): r for r in marts["user_listening_history"]}
    assert set(history) == {("u1", "TRK_A"), ("u2", "TRK_A"), ("u2", "TRK_B")}
    u2 = history[("u2", "TRK_A")]  # the flagged 200 s play is not taste
    assert (u2["plays"], u2["streams"], u2["chosen_plays"], u2["saves"], u2["listening_ms"]) == (
        1,
        1,
        1,
        1,
        30_001,
    )
    u1 = history[("u1", "TRK_A")]
    assert (u1["plays"], u1["streams"]) == (2, 1)
    assert u1["first_played_at"] == dt.datetime(2026, 9, 7, 1, 0)
    assert u1["last_played_at"] == dt.datetime(2026, 9, 7, 2, 0)


def test_the_threshold_is_a_setting(
    boundary_build: tuple[Settings, Path, dict[str, Table]],
) -> None:
    settings, root, _ = boundary_build
    lower = settings.model_copy(update={"stream_threshold_ms": 29_999})
    assert dbt_vars(lower, DAY, DAY)["stream_threshold_ms"] == 29_999
    run_dbt(
        lower,
        ["run", "--select", "int_plays", "daily_track_stats"],
        root / "dbt",
        dbt_vars(lower, DAY, DAY),
    )
    assert _int_plays(lower)["e-29999"][:3] == (True, False, True)
    stats = {
        r["track_id"]: r for r in as_dicts(duckdb_marts(lower.warehouse_path)["daily_track_stats"])
    }
    assert stats["TRK_A"]["qualified_streams"] == 3
    assert stats["TRK_A"]["flagged_plays"] == 1  # still flagged, still not a stream


def test_duckdb_reads_an_s3_lake_through_fsspec(
    boundary_build: tuple[Settings, Path, dict[str, Table]], moto_s3, tmp_path: Path
) -> None:
    """The prod lake is on S3: the profile registers s3fs on DuckDB (no httpfs download)."""
    from pipelines.lake import Lake

    _, root, built = boundary_build
    s3_root = moto_s3.fresh_root("dbt")
    Lake(s3_root, s3=moto_s3.s3_options()).copy_tree_from_local(root / "lake", "")
    settings = Settings(
        data_dir=tmp_path, lake_url=s3_root, s3_endpoint_url=moto_s3.endpoint_url,
        s3_access_key_id=moto_s3.key, s3_secret_access_key=moto_s3.secret,
    )  # fmt: skip
    run_dbt(settings, ["build"], tmp_path / "dbt", dbt_vars(settings, DAY, DAY))
    assert duckdb_marts(settings.warehouse_path) == built
