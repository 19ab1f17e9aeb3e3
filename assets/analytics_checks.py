"""Great Expectations on the marts, as blocking Dagster asset checks on `daily_track_stats`.

dbt's own tests already guard each model from inside the SQL; these checks look
from outside it. `daily_track_stats_expectations` runs the GX suite on the mart
(grain unique, counts non-negative, streams <= plays, tracks in the catalog), and
`streams_reconcile_with_events` recounts each play day's qualified, non-flagged
plays straight from the lake (`listening_events` minus `fraud_flags`, with the
stream threshold from settings) and requires the mart's `qualified_streams` to
match to the stream. Both block: royalties read these marts, so a failed check
stops the run before anything downstream is paid from them.

The checks read the mart where dbt wrote it: the DuckDB warehouse on the local
target, the Spark metastore (`marts.daily_track_stats`) on the Spark targets.
"""

import datetime as dt

import pandas as pd
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue, asset_check
from dagster_pyspark import LazyPySparkResource

from pipelines.analytics_dbt import AnalyticsDbtResource
from pipelines.data_quality import join_layer_totals, validate_daily_track_stats, validate_reconciliation
from pipelines.event_loading import load_known_tracks, published_days
from pipelines.lake import Lake
from pipelines.resources import EventRulesResource, LakeResource, WarehouseResource

DAILY_TRACK_STATS = AssetKey("daily_track_stats")
MART_TABLE = "marts.daily_track_stats"


def read_mart(dbt: AnalyticsDbtResource, warehouse: WarehouseResource, spark: LazyPySparkResource) -> pd.DataFrame:
    """The whole `daily_track_stats` mart, from whichever engine built it."""
    if dbt.target == "duckdb":
        with warehouse.get_connection() as con:
            return con.sql(f"SELECT * FROM {MART_TABLE}").to_arrow_table().to_pandas()
    return spark.spark_session.table(MART_TABLE).toPandas()


def lake_qualified_streams(lake: Lake, stream_threshold_ms: int) -> pd.DataFrame:
    """Per play day, the qualified non-flagged plays counted from the lake itself (columns day, qualified_streams).

    Only days whose fraud screening is published count: the mart is never built
    for the others (the dbt asset refuses them), so they are not the mart's to match.
    """
    import duckdb

    screened = [d.isoformat() for d in published_days(lake, "fraud_flags")]
    if not screened:
        return pd.DataFrame({"day": pd.Series([], dtype="object"), "qualified_streams": pd.Series([], dtype="int64")})
    with duckdb.connect() as con:
        lake.register_with_duckdb(con)
        events = [lake.duckdb_glob(f"listening_events/date={d}/*.parquet") for d in screened]
        flags = [lake.duckdb_glob(f"fraud_flags/date={d}/*.parquet") for d in screened]
        table = con.execute(
            """
            SELECT CAST(e.date AS DATE) AS day, count(*) AS qualified_streams
            FROM read_parquet($events, hive_partitioning = true) AS e
            WHERE e.ms_played >= $threshold
              AND e.event_id NOT IN (SELECT event_id FROM read_parquet($flags))
            GROUP BY 1 ORDER BY 1
            """,
            {"events": events, "flags": flags, "threshold": stream_threshold_ms},
        ).to_arrow_table()
    frame = table.to_pandas()
    frame["day"] = frame["day"].map(lambda d: d.isoformat() if isinstance(d, dt.date) else str(d))
    return frame


def mart_streams(mart: pd.DataFrame) -> pd.DataFrame:
    """Per play day, the mart's qualified streams (columns day, streams)."""
    if mart.empty:
        return pd.DataFrame({"day": pd.Series([], dtype="object"), "streams": pd.Series([], dtype="int64")})
    totals = mart.groupby("play_date", as_index=False)["qualified_streams"].sum()
    totals["day"] = totals["play_date"].map(lambda d: d.isoformat() if isinstance(d, dt.date) else str(d)[:10])
    return totals[["day", "qualified_streams"]].rename(columns={"qualified_streams": "streams"})


@asset_check(
    asset=DAILY_TRACK_STATS,
    blocking=True,
    description="Great Expectations suite on the mart: (play_date, track_id, country) unique, keys not null, "
    "counts non-negative, qualified_streams <= plays, tracks in the catalog.",
)
def daily_track_stats_expectations(
    context: AssetCheckExecutionContext,
    dbt: AnalyticsDbtResource,
    warehouse: WarehouseResource,
    spark: LazyPySparkResource,
    lake: LakeResource,
) -> AssetCheckResult:
    store = lake.lake()
    known = load_known_tracks(store) if store.exists("reference/catalog/tracks.parquet") else None
    report = validate_daily_track_stats(
        read_mart(dbt, warehouse, spark),
        keys=("play_date", "track_id", "country"),
        streams="qualified_streams",
        ms_played="listening_ms",
        known_tracks=known,
    )
    return AssetCheckResult(
        passed=report.blocking_success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows": report.rows,
            "report": MetadataValue.md(report.to_markdown(title="daily_track_stats")),
            "details": MetadataValue.json(report.to_metadata()),
        },
    )


@asset_check(
    asset=DAILY_TRACK_STATS,
    blocking=True,
    description="Each play day's qualified_streams in the mart equal the qualified, non-flagged plays "
    "recounted from listening_events and fraud_flags in the lake.",
)
def streams_reconcile_with_events(
    context: AssetCheckExecutionContext,
    dbt: AnalyticsDbtResource,
    warehouse: WarehouseResource,
    spark: LazyPySparkResource,
    lake: LakeResource,
    event_rules: EventRulesResource,
) -> AssetCheckResult:
    events = lake_qualified_streams(lake.lake(), event_rules.stream_threshold_ms)
    mart = mart_streams(read_mart(dbt, warehouse, spark))
    totals = join_layer_totals({"events": events, "mart": mart}, key="day")
    report = validate_reconciliation(totals, pairs=(("events_qualified_streams", "mart_streams"),), key="day")
    off = totals[totals["events_qualified_streams"] != totals["mart_streams"]]
    return AssetCheckResult(
        passed=report.blocking_success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "days": len(totals),
            "events_qualified_streams": int(totals["events_qualified_streams"].sum()),
            "mart_qualified_streams": int(totals["mart_streams"].sum()),
            "days_off": MetadataValue.json({str(r.day): [int(r.events_qualified_streams), int(r.mart_streams)]
                                            for r in off.head(20).itertuples()}),
            "report": MetadataValue.md(report.to_markdown(title="streams: lake vs mart")),
        },
    )  # fmt: skip


ANALYTICS_CHECKS = [daily_track_stats_expectations, streams_reconcile_with_events]
