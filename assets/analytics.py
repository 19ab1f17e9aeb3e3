"""The dbt analytics project (`dbt/`) as Dagster assets: staging, intermediate and marts.

One `@dbt_assets` definition, partitioned like the events (one partition per PLAY day,
backfilled in a single run): a run passes its partitions' time window to dbt as the
`start_date` / `end_date` vars and streams `dbt build`. Daily marts are rebuilt for those
days, weekly and monthly marts for the whole weeks and months they touch. dbt's tests come
back as asset checks; the money-relevant ones (grain uniqueness, streams <= plays, layer
reconciliation) have error severity.

The sources map to the platform's own assets (`listening_events`, `fraud_flags`), so the
models hang off them in the asset graph; see dbt/models/staging/_sources.yml.
"""

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from assets.events import listening_days
from pipelines.analytics_dbt import AnalyticsDbtResource, analytics_project, ensure_manifest
from pipelines.resources import LakeResource
from pipelines.settings import get_settings

GROUP = "analytics"
OWNERS = ["team:data-platform"]
FRAUD_FLAGS = "fraud_flags"


class AnalyticsTranslator(DagsterDbtTranslator):
    """Models keep their dbt name as asset key (names are unique across layers), group
    "analytics", owned by the data platform team; sources use their meta.dagster.asset_key."""

    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return AssetKey([dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return GROUP
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        if dbt_resource_props["resource_type"] == "model":
            return list(OWNERS)
        owners = super().get_owners(dbt_resource_props)
        return list(owners) if owners else None


ANALYTICS_PROJECT = analytics_project(get_settings())
ANALYTICS_MANIFEST = ensure_manifest(ANALYTICS_PROJECT)


def play_days(context: AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last play day of the run's partitions (a single-run backfill is one window)."""
    window = context.partition_time_window
    first = window.start.date()
    last = (window.end - dt.timedelta(days=1)).date()
    return first, last


def missing_fraud_days(lake: LakeResource, first: dt.date, last: dt.date) -> list[str]:
    """Play days in first..last whose fraud_flags partition is not published.

    Without it, that day's fraudulent plays would silently count as streams (and royalties).
    """
    store = lake.lake()
    missing = []
    day = first
    while day <= last:
        if not store.is_published(f"{FRAUD_FLAGS}/date={day.isoformat()}"):
            missing.append(day.isoformat())
        day += dt.timedelta(days=1)
    return missing


@dbt_assets(
    manifest=ANALYTICS_MANIFEST,
    project=ANALYTICS_PROJECT,
    name="analytics_dbt_models",
    partitions_def=listening_days,
    backfill_policy=BackfillPolicy.single_run(),
    dagster_dbt_translator=AnalyticsTranslator(),
)
def analytics_dbt_models(
    context: AssetExecutionContext, dbt: AnalyticsDbtResource, lake: LakeResource
):
    """`dbt build` of the selected models for the run's play days (vars start_date..end_date)."""
    first, last = play_days(context)
    missing = missing_fraud_days(lake, first, last)
    if missing:
        raise Failure(
            description=f"fraud_flags is not published for play days {', '.join(missing)}: "
            "materialize fraud_flags for them first (their plays would otherwise count as streams)",
            metadata={"missing_days": missing},
        )
    run_vars = dbt.run_vars(first, last)
    context.log.info(f"dbt build for play days {first} .. {last} on target {dbt.target}")
    yield from dbt.cli(["build", "--vars", json.dumps(run_vars)], context=context).stream()


ANALYTICS_ASSETS = [analytics_dbt_models]
