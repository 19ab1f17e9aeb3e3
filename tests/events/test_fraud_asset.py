"""The fraud_flags asset on days of the small world: what it publishes, its metadata, re-runs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from assets.events import listening_events
from assets.fraud import FRAUD_ASSETS, fraud_flags
from ml.fraud import (
    ACCOUNTS_SCHEMA,
    FLAGS_SCHEMA,
    TRACKS_SCHEMA,
    Reason,
    flags_prefix,
    report_prefix,
)
from pipelines.event_loading import load_known_tracks, load_play_day, publish_play_day
from pipelines.lake import Lake
from pipelines.resources import EventRulesResource, LakeResource

pytestmark = pytest.mark.slow

QUIET_DAY, SPIKE_DAY = (
    "2026-09-10",
    "2026-09-11",
)  # seed 7: no bot plays on 09-10; a geo spike and a looper on 09-11


@pytest.fixture(scope="module")
def lake_root(small_world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with the small world's users, catalog and the first eleven play days of listening_events."""
    root = tmp_path_factory.mktemp("fraud-asset")
    for part in ("landing/events", "landing/users", "reference/catalog"):
        shutil.copytree(small_world_dir / part, root / part)
    lake = Lake(str(root))
    known = load_known_tracks(lake)
    for k in range(11):
        publish_play_day(
            lake,
            load_play_day(lake, dt.date(2026, 9, 1) + dt.timedelta(days=k), known_tracks=known),
        )
    return root


def _resources(root: Path) -> dict:
    return {"lake": LakeResource(root_url=str(root)), "event_rules": EventRulesResource()}


def _run(root: Path, first: str, last: str):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            FRAUD_ASSETS,
            instance=instance,
            resources=_resources(root),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert result.success
        materialized = instance.get_materialized_partitions(AssetKey("fraud_flags"))
    return result, materialized


def test_two_days_in_one_run_publish_flags_and_reports(lake_root: Path) -> None:
    result, materialized = _run(lake_root, QUIET_DAY, SPIKE_DAY)
    assert materialized == {QUIET_DAY, SPIKE_DAY}
    lake = Lake(str(lake_root))
    quiet, spike = dt.date.fromisoformat(QUIET_DAY), dt.date.fromisoformat(SPIKE_DAY)
    for day in (quiet, spike):
        assert lake.verify(flags_prefix(day)) == [] and lake.verify(report_prefix(day)) == []

    # a day without fraud still has every file, with the schema and no rows
    empty = pq.read_table(lake.resolve(f"{flags_prefix(quiet)}/part-00000.parquet"))
    assert empty.num_rows == 0 and empty.schema.equals(FLAGS_SCHEMA, check_metadata=False)
    assert pq.read_table(lake.resolve(f"{report_prefix(quiet)}/accounts.parquet")).num_rows == 0

    flags = pq.read_table(lake.resolve(f"{flags_prefix(spike)}/part-00000.parquet"))
    assert flags.schema.equals(FLAGS_SCHEMA, check_metadata=False)
    assert set(flags["reason"].to_pylist()) == {Reason.LOOPING, Reason.GEO_SPIKE}
    accounts = pq.read_table(lake.resolve(f"{report_prefix(spike)}/accounts.parquet"))
    tracks = pq.read_table(lake.resolve(f"{report_prefix(spike)}/tracks.parquet"))
    assert accounts.schema.equals(ACCOUNTS_SCHEMA, check_metadata=False)
    assert tracks.schema.equals(TRACKS_SCHEMA, check_metadata=False)
    assert sum(accounts["flagged_plays"].to_pylist()) == flags.num_rows
    assert all(json.loads(e)["plays"] > 0 for e in accounts["evidence"].to_pylist())
    spiking = [
        json.loads(e)["geo_spike"]
        for e in tracks["evidence"].to_pylist()
        if "geo_spike" in json.loads(e)
    ]
    assert len(spiking) == 1 and spiking[0][0]["heavy_accounts"] >= 3

    (mat,) = [
        m for m in result.asset_materializations_for_node("fraud_flags") if m.partition == SPIKE_DAY
    ]
    assert mat.metadata["flagged_plays"].value == flags.num_rows
    assert mat.metadata["flagged_accounts"].value == accounts.num_rows
    summary = (
        next(iter(result.asset_materializations_for_node("fraud_flags"))).metadata["summary"].value
    )
    assert SPIKE_DAY in summary and "GEO_SPIKE" in summary


def test_a_rerun_writes_the_same_bytes(lake_root: Path) -> None:
    lake = Lake(str(lake_root))
    day = dt.date.fromisoformat(SPIKE_DAY)
    _run(lake_root, SPIKE_DAY, SPIKE_DAY)
    before = (lake.manifest(flags_prefix(day)), lake.manifest(report_prefix(day)))
    _run(lake_root, SPIKE_DAY, SPIKE_DAY)
    assert (lake.manifest(flags_prefix(day)), lake.manifest(report_prefix(day))) == before


def test_the_asset_sits_in_the_events_group_downstream_of_listening_events(lake_root: Path) -> None:
    defs = Definitions(assets=[listening_events, fraud_flags], resources=_resources(lake_root))
    graph = defs.resolve_asset_graph()
    node = graph.get(AssetKey("fraud_flags"))
    assert node.parent_keys == {AssetKey("listening_events")}
    assert node.group_name == "events" and node.partitions_def == listening_events.partitions_def
