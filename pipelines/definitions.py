"""The code location: assets, checks, jobs, schedules, sensors and resources.

`workspace.yaml` points here. Which parts are real (local folder or S3,
SQLite or PostgreSQL, ...) is decided by the settings, never by this file.
"""

from __future__ import annotations

from dagster import Definitions

from assets.analytics import ANALYTICS_ASSETS
from assets.analytics_checks import ANALYTICS_CHECKS
from assets.audio import AUDIO_ASSETS, AUDIO_CHECKS
from assets.events import EVENT_ASSETS
from assets.features import FEATURE_ASSETS, FEATURE_CHECKS
from assets.fraud import FRAUD_ASSETS
from assets.ingestion import INGESTION_ASSETS, INGESTION_CHECKS
from pipelines.analytics_dbt import dbt_resource
from pipelines.jobs import JOBS
from pipelines.sensors import upload_sensor
from pipelines.resources import build_resources
from pipelines.settings import Settings, get_settings


def build_definitions(settings: Settings) -> Definitions:
    """All definitions, with resources for the given settings' profile."""
    return Definitions(
        assets=[*INGESTION_ASSETS, *AUDIO_ASSETS, *FEATURE_ASSETS, *EVENT_ASSETS, *FRAUD_ASSETS, *ANALYTICS_ASSETS],
        asset_checks=[*INGESTION_CHECKS, *AUDIO_CHECKS, *FEATURE_CHECKS, *ANALYTICS_CHECKS],
        jobs=JOBS,
        sensors=[upload_sensor],
        resources={**build_resources(settings), "dbt": dbt_resource(settings)},
    )


defs = build_definitions(get_settings())
