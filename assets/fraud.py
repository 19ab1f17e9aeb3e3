"""Fraud flags: one daily partition per PLAY day, screened before anything is paid or charted.

Thin orchestration over `ml.fraud`: each partition reads its play day of
`listening_events` plus the trailing history window's per-track, per-country
counts, runs the five rules (looping, implausible listening time, machine-regular
play, farms, geographic spikes), and publishes `fraud_flags/date=D/` (one row per
flagged play: the dbt layer anti-joins on event_id) and `fraud_report/date=D/`
(accounts.parquet, tracks.parquet: reasons and evidence). A day without fraud
still publishes empty files with the schema. Re-running a day writes the same bytes.
"""

import datetime as dt

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from assets.events import listening_days, listening_events
from ml.fraud import REASON_PRIORITY, FraudRules, detect_inputs, publish_detection, read_day_inputs
from pipelines.resources import EventRulesResource, LakeResource


def _summary_markdown(days: list[dict]) -> str:
    """One line per screened day: plays, flagged plays, accounts, tracks and plays by reason."""
    codes = list(REASON_PRIORITY)
    lines = [
        "| day | plays | flagged plays | share | accounts | tracks | " + " | ".join(codes) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(codes),
    ]
    for d in days:
        share = d["flagged_plays"] / d["plays"] if d["plays"] else 0.0
        by = d["flagged_plays_by_reason"]
        lines.append(
            f"| {d['day']} | {d['plays']:,} | {d['flagged_plays']:,} | {share:.2%} | {d['flagged_accounts']} | "
            f"{d['flagged_tracks']} | " + " | ".join(f"{by[c]:,}" for c in codes) + " |"
        )
    notes = [f"- {n}" for d in days for n in d["notes"]]
    return "\n".join(lines + ([""] + notes if notes else []))


@asset(
    partitions_def=listening_days,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[listening_events],
    group_name="events",
    owners=["team:data-platform"],
    kinds={"duckdb", "parquet"},
    description="Plays flagged as streaming fraud, by play day (Parquet, Hive-partitioned by date): "
    "fraud_flags/ has one row per flagged play (event_id, user_id, track_id, started_at, reason, reasons) "
    "for streams, charts and royalties to exclude; fraud_report/ has per-account and per-track reasons "
    "and evidence. Rules: LOOPING, IMPLAUSIBLE_LISTENING_TIME (setting fraud_max_daily_hours), "
    "MACHINE_REGULAR, FARM, GEO_SPIKE (see docs/fraud.md).",
)
def fraud_flags(
    context: AssetExecutionContext, lake: LakeResource, event_rules: EventRulesResource
) -> MaterializeResult:
    store = lake.lake()
    rules = FraudRules(max_daily_hours=event_rules.fraud_max_daily_hours)
    days: list[dict] = []
    totals = {"plays": 0, "flagged_plays": 0, "flagged_accounts": 0, "flagged_tracks": 0}
    by_reason = {code: 0 for code in REASON_PRIORITY}
    for key in context.partition_keys:
        day = dt.date.fromisoformat(key)
        inputs = read_day_inputs(store, day, rules)
        detection = detect_inputs(inputs, rules)
        publish_detection(store, detection)
        summary = detection.summary()
        days.append(summary)
        for name in totals:
            totals[name] += summary[name]
        for code, n in summary["flagged_plays_by_reason"].items():
            by_reason[code] += n
        context.add_asset_metadata(
            {
                "plays": summary["plays"],
                "flagged_plays": summary["flagged_plays"],
                "flagged_accounts": summary["flagged_accounts"],
                "flagged_tracks": summary["flagged_tracks"],
                "flagged_plays_by_reason": MetadataValue.json(summary["flagged_plays_by_reason"]),
                "accounts_by_reason": MetadataValue.json(summary["accounts_by_reason"]),
                "history_days": len(inputs.history_days),
                "notes": MetadataValue.json(summary["notes"]),
            },
            partition_key=key,
        )
        context.log.info(
            f"{key}: {summary['flagged_plays']} of {summary['plays']} plays flagged, "
            f"{summary['flagged_accounts']} accounts, {summary['flagged_tracks']} tracks"
        )
    return MaterializeResult(
        metadata={
            **totals,
            "days": len(context.partition_keys),
            "flagged_plays_by_reason": MetadataValue.json(by_reason),
            "rules": MetadataValue.json(rules.to_dict()),
            "summary": MetadataValue.md(_summary_markdown(days)),
        }
    )


FRAUD_ASSETS = [fraud_flags]
