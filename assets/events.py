"""Listening events: one daily partition per PLAY day, from the landing area into the lake.

Thin orchestration over `pipelines.event_loading`: each partition assembles its
play day from the arrival partitions inside the lateness window, rejects bad
batches and rows with a reason, drops duplicate event ids, and publishes
`listening_events/date=D/` and `rejected_events/date=D/` atomically. Re-running
a day writes the same bytes.
"""

import datetime as dt
import json

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pipelines.event_loading import LANDING_EVENTS, load_known_tracks, load_play_day, publish_play_day
from pipelines.lake import Lake
from pipelines.resources import EventRulesResource, LakeResource

# The earliest play day the platform keeps (the medium sample world starts here; the
# small one a month later). Days before it are never loaded.
EVENTS_START = "2026-08-01"

listening_days = DailyPartitionsDefinition(start_date=EVENTS_START, timezone="UTC")


def landing_days(lake: Lake) -> list[str]:
    """Arrival days present in the landing area, as partition keys (what the main run loads)."""
    days = []
    for name in lake.ls(LANDING_EVENTS):
        if name.startswith("date=") and name[5:] >= EVENTS_START:
            days.append(name[5:])
    return sorted(days)


@asset(
    partitions_def=listening_days,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="events",
    owners=["team:data-platform"],
    kinds={"duckdb", "parquet"},
    description="Play events by the day they were played (Parquet, Hive-partitioned by date): schema-checked "
    "per batch, deduplicated by event_id across batches and re-deliveries, late events in their "
    "play day (lateness window: setting events_lateness_days); rejected rows with a reason in rejected_events/.",
    check_specs=[
        AssetCheckSpec("no_rejected_batches", asset="listening_events", blocking=True,
                       description="No batch file was rejected whole (schema)."),
        AssetCheckSpec("rejected_rows_below_limit", asset="listening_events", blocking=True,
                       description="At most events_max_rejected_share (default 1%) of a day's rows rejected "
                       "(events past the lateness window are reported, not counted)."),
    ],  # fmt: skip
)
def listening_events(
    context: AssetExecutionContext, lake: LakeResource, event_rules: EventRulesResource
) -> MaterializeResult:
    store = lake.lake()
    known = load_known_tracks(store) if store.exists("reference/catalog/tracks.parquet") else None
    bad_files: dict[str, dict[str, str]] = {}
    heavy: dict[str, float] = {}
    totals = {"events": 0, "rejected": 0, "duplicates_dropped": 0, "late_loaded": 0, "too_late": 0}
    for key in context.partition_keys:
        load = load_play_day(store, dt.date.fromisoformat(key), lateness_days=event_rules.lateness_days, known_tracks=known)
        publish_play_day(store, load)
        summary = json.loads(load.to_json())
        for name in totals:
            totals[name] += summary[name]
        if load.files_rejected:
            bad_files[key] = dict(load.files_rejected)
        # Events beyond the lateness window are reported, but they are not bad data.
        bad = summary["rejected"] - summary["rejected_by_reason"].get("TOO_LATE", 0)
        rows = summary["events"] + bad
        if rows and bad / rows > event_rules.max_rejected_share:
            heavy[key] = round(bad / rows, 4)
        context.add_asset_metadata({
            "events": summary["events"], "rejected": summary["rejected"],
            "rejected_by_reason": MetadataValue.json(summary["rejected_by_reason"]),
            "duplicates_dropped": summary["duplicates_dropped"], "late_loaded": summary["late_loaded"],
            "too_late": summary["too_late"],
        }, partition_key=key)  # fmt: skip
        context.log.info(f"{key}: {summary['events']} events, {summary['rejected']} rejected")
    return MaterializeResult(
        metadata={**totals, "days": len(context.partition_keys)},
        check_results=[
            AssetCheckResult(check_name="no_rejected_batches", passed=not bad_files, severity=AssetCheckSeverity.ERROR,
                             metadata={"rejected_files": MetadataValue.json(bad_files)}),
            AssetCheckResult(check_name="rejected_rows_below_limit", passed=not heavy,
                             severity=AssetCheckSeverity.ERROR, metadata={"days_over": MetadataValue.json(heavy)}),
        ],
    )  # fmt: skip


EVENT_ASSETS = [listening_events]
