"""The listening_events asset on the small world, and a corrupted day stopped by its blocking check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.events import EVENT_ASSETS, landing_days
from pipelines.event_loading import events_prefix
from pipelines.instance import ensure_instance
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
