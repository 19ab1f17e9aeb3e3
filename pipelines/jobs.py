"""Jobs: the stages the README's first command (the main job) runs in.

A Dagster job may hold only one partitions definition, so there is no single
"everything" job: partitioned assets run in their own jobs over ranges of
partitions, and the unpartitioned ones around them run in between. The stage
order is the order of the asset graph (verdicts, catalog, per-track audio,
everything else); `pipelines/main_run.py:STAGES` runs them in that order.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from assets.analytics import ANALYTICS_ASSETS
from assets.audio import AUDIO_PARTITIONED_ASSETS
from assets.events import listening_events
from assets.features import FEATURE_PARTITIONED_ASSETS
from assets.fraud import fraud_flags
from assets.ingestion import upload_verdicts

TRACK_STAGE = AssetSelection.assets(upload_verdicts)
AUDIO_STAGE = AssetSelection.assets(*AUDIO_PARTITIONED_ASSETS, *FEATURE_PARTITIONED_ASSETS)
EVENTS_STAGE = AssetSelection.assets(listening_events, fraud_flags, *ANALYTICS_ASSETS)
PARTITIONED = TRACK_STAGE | AUDIO_STAGE | EVENTS_STAGE
CATALOG_STAGE = AUDIO_STAGE.upstream() - PARTITIONED

track_ingestion_job = define_asset_job(
    "track_ingestion",
    selection=TRACK_STAGE,
    description="Judge delivered tracks: one dynamic partition per track, many per run.",
)

catalog_job = define_asset_job(
    "catalog_build",
    selection=CATALOG_STAGE,
    description="The catalog from the verdicts (registers the catalog track partitions).",
)

track_audio_job = define_asset_job(
    "track_audio_processing",
    selection=AUDIO_STAGE,
    description="Per catalog track: HLS ladder, loudness, waveform, preview and audio features; many tracks per run.",
)

events_job = define_asset_job(
    "events_daily",
    selection=EVENTS_STAGE,
    description="By play day (one daily partition each, many days per run): load the events, flag fraud, "
    "build the dbt analytics marts.",
)

platform_job = define_asset_job(
    "platform",
    selection=AssetSelection.all() - PARTITIONED - CATALOG_STAGE,
    description="Everything downstream of the per-track stages.",
)

JOBS = [track_ingestion_job, catalog_job, events_job, track_audio_job, platform_job]
