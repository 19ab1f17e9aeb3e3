"""The code location: assets, checks, jobs, schedules, sensors and resources.

`workspace.yaml` points here. Which parts are real (local folder or S3,
SQLite or PostgreSQL, ...) is decided by the settings, never by this file.
"""

from __future__ import annotations

from dagster import Definitions

from assets.audio import AUDIO_ASSETS, AUDIO_CHECKS
from assets.events import EVENT_ASSETS
from assets.features import FEATURE_ASSETS, FEATURE_CHECKS
from assets.ingestion import INGESTION_ASSETS, INGESTION_CHECKS
from pipelines.jobs import JOBS
from pipelines.sensors import upload_sensor
from pipelines.resources import build_resources
from pipelines.settings import Settings, get_settings


def build_definitions(settings: Settings) -> Definitions:
    """All definitions, with resources for the given settings' profile."""
    return Definitions(
        assets=[*INGESTION_ASSETS, *AUDIO_ASSETS, *FEATURE_ASSETS, *EVENT_ASSETS],
        asset_checks=[*INGESTION_CHECKS, *AUDIO_CHECKS, *FEATURE_CHECKS],
        jobs=JOBS,
        sensors=[upload_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions(get_settings())
