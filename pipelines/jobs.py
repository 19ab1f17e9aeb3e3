"""Jobs: the main job materializes every asset the platform defines."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

main_job = define_asset_job(
    "main",
    selection=AssetSelection.all(),
    description="Everything the platform defines, in dependency order (the README's first command).",
)
