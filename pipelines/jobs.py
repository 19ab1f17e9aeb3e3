"""Jobs: the main job, and the two stages the README's first command runs it in."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from assets.ingestion import upload_verdicts

PARTITIONED_STAGE = AssetSelection.assets(upload_verdicts)

main_job = define_asset_job(
    "main",
    selection=AssetSelection.all(),
    description="Everything the platform defines, in dependency order (the README's first command).",
)

track_ingestion_job = define_asset_job(
    "track_ingestion",
    selection=PARTITIONED_STAGE,
    description="Judge delivered tracks: one dynamic partition per track, many per run.",
)

platform_job = define_asset_job(
    "platform",
    selection=AssetSelection.all() - PARTITIONED_STAGE,
    description="Everything downstream of the per-track verdicts.",
)
