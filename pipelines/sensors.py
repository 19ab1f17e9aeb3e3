"""Sensors: new complete deliveries in the landing zone become track partitions and runs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.ingestion import UPLOADS, track_deliveries, upload_verdicts
from audio.ingest import MARKER_FILE, parse_declaration, partition_key, track_count
from pipelines.lake import Lake, LakeError
from pipelines.resources import LakeResource


@dataclass(frozen=True)
class Discovery:
    """Deliveries found complete since the cursor, and the partition keys they need."""

    deliveries: list[str]
    partition_keys: list[str]
    skipped: dict[str, str]  # delivery id -> why it was not taken (unsafe name, ...)


def discover_deliveries(lake: Lake, seen: set[str]) -> Discovery:
    """Complete deliveries (marker present) not yet seen; half-uploaded ones are left alone."""
    deliveries, keys, skipped = [], [], {}
    if not lake.exists(UPLOADS):
        return Discovery([], [], {})
    for delivery_id in lake.ls(UPLOADS):
        if delivery_id in seen:
            continue
        prefix = f"{UPLOADS}/{delivery_id}"
        try:
            if not lake.exists(f"{prefix}/{MARKER_FILE}"):
                continue
            names = [n for n in lake.walk_files(prefix) if n != MARKER_FILE]
            parsed = parse_declaration(names, lambda n, p=prefix: lake.read_bytes(f"{p}/{n}"), delivery_id)
        except LakeError as exc:
            skipped[delivery_id] = str(exc)
            continue
        deliveries.append(delivery_id)
        keys.extend(partition_key(delivery_id, i) for i in range(track_count(parsed)))
    return Discovery(deliveries, keys, skipped)


def unregistered(instance, keys: list[str]) -> list[str]:
    """The keys the instance does not know yet, in order: a delivery seen twice adds nothing."""
    existing = set(instance.get_dynamic_partitions(track_deliveries.name))
    return [k for k in keys if k not in existing]


def register_new_deliveries(lake: Lake, instance, seen: set[str]) -> Discovery:
    """Add partitions for new deliveries to the instance (used by the main job; the sensor
    asks Dagster to add them through its result instead)."""
    found = discover_deliveries(lake, seen)
    new = unregistered(instance, found.partition_keys)
    if new:
        instance.add_dynamic_partitions(track_deliveries.name, new)
    return Discovery(found.deliveries, new, found.skipped)


@sensor(
    target=[upload_verdicts],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns each complete delivery (BatchComplete marker) into one partition per track.",
)
def upload_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult | SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {"seen": []}
    seen = set(cursor["seen"])
    found = discover_deliveries(lake.lake(), seen)
    for delivery_id, why in found.skipped.items():
        context.log.warning(f"delivery {delivery_id!r} skipped: {why}")
    if not found.deliveries:
        return SkipReason("no new complete deliveries")
    new = unregistered(context.instance, found.partition_keys)
    new_cursor = json.dumps({"seen": sorted(seen | set(found.deliveries))})
    if not new:
        return SensorResult(cursor=new_cursor)
    run = RunRequest(
        run_key=f"deliveries:{new[0]}..{new[-1]}",
        tags={ASSET_PARTITION_RANGE_START_TAG: new[0], ASSET_PARTITION_RANGE_END_TAG: new[-1]},
    )
    return SensorResult(
        run_requests=[run],
        dynamic_partitions_requests=[track_deliveries.build_add_request(new)],
        cursor=new_cursor,
    )
