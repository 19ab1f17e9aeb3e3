"""The listening_events asset on the small world, and corrupted days stopped by its blocking checks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, BackfillPolicy, DagsterInstance, MaterializeResult, asset, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

import assets.events as events_module
from assets.events import EVENT_ASSETS, QUARANTINE, landing_days, listening_days, listening_events
from pipelines.event_loading import DayLoad, events_prefix, load_play_day
from pipelines.instance import ensure_instance
from pipelines.main_run import Stage, _withheld_partitions
from pipelines.lake import Lake
from pipelines.resources import build_resources
from pipelines.settings import Settings

pytestmark = pytest.mark.slow


def test_every_landed_day_is_loaded_once(ingested_small_world: Path) -> None:
    settings = Settings(data_dir=ingested_small_world)
    lake = build_resources(settings)["lake"].lake()
    days = landing_days(lake)
    assert len(days) >= 35
    ensure_instance(settings)
    with DagsterInstance.get() as instance:
        assert instance.get_materialized_partitions(AssetKey("listening_events")) >= set(days)
    seen: set[str] = set()
    total = 0
    for day in days:
        import datetime as dt

        prefix = events_prefix(dt.date.fromisoformat(day))
        assert lake.verify(prefix) == []
        ids = pq.read_table(lake.resolve(f"{prefix}/part-00000.parquet"), columns=["event_id"]).column(0).to_pylist()
        assert not seen & set(ids) and len(ids) == len(set(ids))
        seen |= set(ids)
        total += len(ids)
    assert total >= 90_000  # the small world's ~100k plays, minus the few past the lateness window


def test_a_corrupted_batch_fails_the_blocking_check_and_the_rest_loads(small_world_dir: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    resources = build_resources(settings)
    lake = resources["lake"].lake()
    source = small_world_dir / "landing" / "events" / "date=2026-09-05"
    target = Path(lake.resolve("landing/events/date=2026-09-05"))
    shutil.copytree(source, target)
    shutil.copytree(small_world_dir / "reference", Path(lake.resolve("reference")))
    (target / "batch-99.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    with DagsterInstance.ephemeral() as instance:
        result = materialize(EVENT_ASSETS, partition_key="2026-09-05", instance=instance, resources=resources,
                             raise_on_error=False)  # fmt: skip
    assert not result.success  # blocking: nothing downstream may consume this day
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
              for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}  # fmt: skip
    assert not checks["no_rejected_batches"].passed
    assert "batch-99.parquet" in str(checks["no_rejected_batches"].metadata["rejected_files"].value)
    assert checks["rejected_rows_below_limit"].passed
    loaded = pq.read_table(lake.resolve("listening_events/date=2026-09-05/part-00000.parquet"))
    assert loaded.num_rows > 1000  # the good batches of the day still loaded


def test_landing_days_ignore_other_folders(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    for name in ("date=2026-09-02", "date=2026-09-01", "date=2020-01-01", "notes"):
        lake.write_bytes(f"landing/events/{name}/x", b"x")
    assert landing_days(lake) == ["2026-09-01", "2026-09-02"]


# ----------------------------------------------------------------------------- GX checks


@asset(partitions_def=listening_days, deps=[listening_events], group_name="test", backfill_policy=BackfillPolicy.single_run())
def royalties_stand_in() -> MaterializeResult:
    """A downstream daily asset: what must not run on a day whose money checks failed."""
    return MaterializeResult()


DAYS = ("2026-09-05", "2026-09-06")


def _lake_with_days(small_world_dir: Path, tmp_path: Path) -> tuple[dict, Path]:
    resources = build_resources(Settings(data_dir=tmp_path))
    lake = resources["lake"].lake()
    for day in DAYS:
        source = small_world_dir / "landing" / "events" / f"date={day}"
        shutil.copytree(source, Path(lake.resolve(f"landing/events/date={day}")))
    shutil.copytree(small_world_dir / "reference", Path(lake.resolve("reference")))
    return resources, Path(lake.root_url)


def _run_days(resources: dict, instance: DagsterInstance):
    tags = {ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]}
    return materialize([listening_events, royalties_stand_in], instance=instance, resources=resources, tags=tags,
                       raise_on_error=False)  # fmt: skip


def _checks(result) -> dict:
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}  # fmt: skip


def _corrupt(load: DayLoad) -> DayLoad:
    """What a loader bug could hand over: a play copied twice, a negative duration, a track not in the catalog."""
    events = load.events
    dup = events.slice(0, 1)
    ms = events["ms_played"].to_pylist()
    ms[1] = -40_000
    tracks = events["track_id"].to_pylist()
    tracks[2] = "XX0000000000"
    events = events.set_column(events.schema.get_field_index("ms_played"), events.schema.field("ms_played"),
                               pa.array(ms, pa.int32()))  # fmt: skip
    events = events.set_column(events.schema.get_field_index("track_id"), events.schema.field("track_id"),
                               pa.array(tracks, pa.string()))  # fmt: skip
    return dataclasses.replace(load, events=pa.concat_tables([events, dup]))


def test_good_days_pass_the_expectation_checks_and_downstream_runs(small_world_dir: Path, tmp_path: Path) -> None:
    resources, root = _lake_with_days(small_world_dir, tmp_path)
    with DagsterInstance.ephemeral() as instance:
        result = _run_days(resources, instance)
        assert result.success
        assert instance.get_materialized_partitions(AssetKey("royalties_stand_in")) == set(DAYS)
    checks = _checks(result)
    money, quality = checks["events_money_expectations"], checks["events_quality_expectations"]
    assert money.passed and money.metadata["days_checked"].value == 2
    assert "| ok | event_id is unique" in money.metadata["report"].value  # the markdown table shown in the UI
    assert quality.passed
    assert not (root / QUARANTINE).exists()


def test_a_corrupted_day_fails_the_blocking_check_is_quarantined_and_stops_downstream(
    small_world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources, root = _lake_with_days(small_world_dir, tmp_path)
    bad_day = DAYS[1]

    def loader(lake, day, **kwargs):
        load = load_play_day(lake, day, **kwargs)
        return _corrupt(load) if day.isoformat() == bad_day else load

    monkeypatch.setattr(events_module, "load_play_day", loader)
    with DagsterInstance.ephemeral() as instance:
        result = _run_days(resources, instance)
        assert not result.success
        assert not instance.get_materialized_partitions(AssetKey("royalties_stand_in"))  # blocked, both days
        # Both days count as materialized, yet the main run must try the quarantined one again.
        stage = Stage("events_daily", "", "listening_days", ("listening_events",))
        assert instance.get_materialized_partitions(AssetKey("listening_events")) >= set(DAYS)
        assert _withheld_partitions(instance, stage, list(DAYS)) == {bad_day}
    checks = _checks(result)
    money = checks["events_money_expectations"]
    assert not money.passed and money.severity.value == "ERROR"
    failing = money.metadata["failing_days"].value
    assert set(failing) == {bad_day}  # the good day of the same run is not blamed
    assert {"event_id is unique (a duplicate is a play paid twice)", "ms_played is not negative",
            "track_id is a catalog track (unknown tracks have no rights holder)"} <= set(failing[bad_day])  # fmt: skip
    assert f"Failing: {bad_day}" in money.metadata["report"].value
    assert checks["no_rejected_batches"].passed and checks["rejected_rows_below_limit"].passed
    # The good day is published; the bad one is kept aside for inspection, never in the lake table.
    lake = resources["lake"].lake()
    assert lake.is_published(f"listening_events/date={DAYS[0]}")
    assert not lake.exists(f"listening_events/date={bad_day}")
    quarantined = f"{QUARANTINE}/date={bad_day}"
    assert lake.verify(quarantined) == []
    kept = pq.read_table(lake.resolve(f"{quarantined}/part-00000.parquet"))
    assert pc.min(kept["ms_played"]).as_py() == -40_000
    report = json.loads(lake.read_bytes(f"{quarantined}/data_quality.json"))
    assert report["report"]["blocking_failed"] == 3
    # Once the loader is fixed, re-running the days publishes the day and clears its quarantine.
    monkeypatch.undo()
    with DagsterInstance.ephemeral() as instance:
        assert _run_days(resources, instance).success
    assert lake.is_published(f"listening_events/date={bad_day}") and not lake.exists(quarantined)
