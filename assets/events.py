"""Listening events: one daily partition per PLAY day, from the landing area into the lake.

Thin orchestration over `pipelines.event_loading`: each partition assembles its
play day from the arrival partitions inside the lateness window, rejects bad
batches and rows with a reason, drops duplicate event ids, and publishes
`listening_events/date=D/` and `rejected_events/date=D/` atomically. Re-running
a day writes the same bytes.

Before publishing, each day's table goes through the Great Expectations events
suite (`pipelines.data_quality`). A day whose money-protecting expectations fail
(duplicate event ids, negative durations, unknown tracks, plays outside the day)
is NOT published: it goes to `quarantine/listening_events/date=D/` with its report,
the lake keeps whatever version of the day passed before (if any), and the
blocking check `events_money_expectations` fails, so nothing downstream of this
run (fraud, dbt marts, royalties) reads it. See docs/data_quality.md.
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

from pipelines.data_quality import SuiteReport, reports_markdown, validate_events
from pipelines.event_loading import (
    LANDING_EVENTS,
    QUARANTINE,
    load_known_tracks,
    load_play_day,
    publish_play_day,
    quarantine_play_day,
)
from pipelines.lake import Lake
from pipelines.resources import EventRulesResource, LakeResource

# The earliest play day the platform keeps (the medium sample world starts here; the
# small one a month later). Days before it are never loaded.
EVENTS_START = "2026-08-01"

listening_days = DailyPartitionsDefinition(start_date=EVENTS_START, timezone="UTC")

"""Where a day whose money checks failed is kept for inspection, instead of the lake table."""


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
        AssetCheckSpec("events_money_expectations", asset="listening_events", blocking=True,
                       description="Great Expectations, money-protecting part (blocking): event_id present and "
                       "unique, ms_played present and not negative, track_id present and in the catalog, "
                       "started_at inside the play day. A failing day is quarantined, not published."),
        AssetCheckSpec("events_quality_expectations", asset="listening_events", blocking=False,
                       description="Great Expectations, the rest (warning): no nulls, ms_played at most a day, "
                       "known source and platform, ISO country codes, the day has plays."),
    ],  # fmt: skip
)
def listening_events(
    context: AssetExecutionContext, lake: LakeResource, event_rules: EventRulesResource
) -> MaterializeResult:
    store = lake.lake()
    known = load_known_tracks(store) if store.exists("reference/catalog/tracks.parquet") else None
    bad_files: dict[str, dict[str, str]] = {}
    heavy: dict[str, float] = {}
    reports: dict[str, SuiteReport] = {}
    totals = {"events": 0, "rejected": 0, "duplicates_dropped": 0, "late_loaded": 0, "too_late": 0}
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        load = load_play_day(store, day, lateness_days=event_rules.lateness_days, known_tracks=known)
        report = validate_events(load.events, day, known)
        reports[key] = report
        if report.blocking_success:
            publish_play_day(store, load)
            store.delete_tree(f"{QUARANTINE}/date={key}")  # an earlier failed attempt is now moot
        else:
            quarantine_play_day(store, load, report.to_metadata())
            failed = ", ".join(r.description or r.expectation for r in report.blocking_failures())
            context.log.error(f"{key}: money expectations failed ({failed}); the day is quarantined, not published")
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
            "published": report.blocking_success,
            "data_quality": MetadataValue.json(report.to_metadata()),
        }, partition_key=key)  # fmt: skip
        context.log.info(f"{key}: {summary['events']} events, {summary['rejected']} rejected")
    return MaterializeResult(
        metadata={**totals, "days": len(context.partition_keys)},
        check_results=[
            AssetCheckResult(check_name="no_rejected_batches", passed=not bad_files, severity=AssetCheckSeverity.ERROR,
                             metadata={"rejected_files": MetadataValue.json(bad_files)}),
            AssetCheckResult(check_name="rejected_rows_below_limit", passed=not heavy,
                             severity=AssetCheckSeverity.ERROR, metadata={"days_over": MetadataValue.json(heavy)}),
            _expectations_check("events_money_expectations", reports, blocking=True, known=known),
            _expectations_check("events_quality_expectations", reports, blocking=False, known=known),
        ],
    )  # fmt: skip


def _expectations_check(
    name: str, reports: dict[str, SuiteReport], *, blocking: bool, known: set[str] | None
) -> AssetCheckResult:
    """One check over every day of the run: the failing days by name, and the report as markdown."""
    part = {key: report.select(blocking=blocking) for key, report in reports.items()}
    failing = {
        key: [r.description or r.expectation for r in report.results if not r.success]
        for key, report in part.items()
        if not report.success
    }
    metadata = {
        "days_checked": len(part),
        "failing_days": MetadataValue.json(failing),
        "details": MetadataValue.json({key: part[key].to_metadata() for key in sorted(failing)[:10]}),
        "report": MetadataValue.md(reports_markdown(part, title=name)),
        "catalog_tracks": len(known) if known is not None else "absent: unknown-track expectation skipped",
    }
    if blocking:
        metadata["quarantined_days"] = MetadataValue.json(sorted(failing))
    return AssetCheckResult(
        check_name=name,
        passed=not failing,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        metadata=metadata,
    )


EVENT_ASSETS = [listening_events]
