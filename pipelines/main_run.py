"""The main job as the README's first command runs it.

Puts the sample world into the lake (reusing it when the same world is
already there), then materializes every asset of the code location on the
configured instance, stage by stage (see `STAGES`): partitioned stages in
ranged runs over the partitions not done yet. Every run shows in the Dagster UI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from pipelines.instance import ensure_instance
from pipelines.lake import Lake
from pipelines.resources import build_resources
from pipelines.sample_world.world import existing_world, generate_world
from pipelines.settings import Settings

Progress = Callable[[str], None]


def say(message: str) -> None:
    """Progress goes to stderr so stdout stays clean for summaries."""
    print(message, file=sys.stderr, flush=True)


def place_sample_world(settings: Settings, lake: Lake, progress: Progress = say) -> Path:
    """Make sure the configured sample world is in the lake; returns where it was generated."""
    scale, seed = settings.sample_scale, settings.sample_seed
    if lake.protocol == "file":
        out = Path(lake.root_url.removeprefix("file://"))
    else:
        out = settings.data_dir / "sample-world" / f"{scale}-{seed}"
    if existing_world(out, scale, seed):
        progress(f"[main] sample world {scale}/seed {seed} already in {out}: reusing it")
    else:
        progress(f"[main] generating the {scale} sample world (seed {seed}) into {out}")
        generate_world(scale, seed, out, progress=progress)
    if lake.protocol != "file":
        progress(f"[main] uploading the sample world to {lake.root_url}")
        copied = lake.copy_tree_from_local(out, "")
        progress(f"[main] {copied} files uploaded (unchanged files skipped)")
    return out


def run_main(settings: Settings, progress: Progress = say) -> int:
    """The whole main job; returns a process exit code."""
    started = time.perf_counter()
    ensure_instance(settings)
    lake = build_resources(settings)["lake"].lake()
    place_sample_world(settings, lake, progress)

    from pipelines.definitions import build_definitions
    from pipelines.sensors import register_new_deliveries

    defs = build_definitions(settings)
    with DagsterInstance.get() as instance:
        found = register_new_deliveries(lake, instance, seen=set())
        progress(f"[main] {len(found.deliveries)} complete deliveries, {len(found.partition_keys)} new track partitions")
        ok = _run_stages(defs, instance, lake, progress)
    if not ok:
        progress("[main] the run failed: open the Dagster UI (`dagster dev`) to see the failed steps")
        return 1
    progress(f"[main] done in {time.perf_counter() - started:.1f}s; lake: {lake.root_url}")
    return 0


@dataclass(frozen=True)
class Stage:
    """One step of the main run: a job, and for partitioned jobs the partitions it covers."""

    job: str
    message: str
    partitions: str | None = None  # a dynamic partitions definition, or "listening_days" (daily)
    assets: tuple[str, ...] = ()  # a partition is done when all of these have materialized it


STAGES = (
    Stage("track_ingestion", "judging {n} tracks ({first} .. {last})", "track_deliveries", ("upload_verdicts",)),
    Stage("catalog_build", "building the catalog"),
    Stage("events_daily", "loading, screening and analysing {n} play days ({first} .. {last})", "listening_days",
          ("listening_events", "fraud_flags", "daily_track_stats")),
    Stage("track_audio_processing", "transcoding {n} catalog tracks ({first} .. {last})", "catalog_tracks",
          ("hls_renditions", "loudness", "waveform", "preview", "audio_features")),
    Stage("platform", "building the reports, the audio index and the feature tables"),
)  # fmt: skip


def _run_stages(defs, instance: DagsterInstance, lake: Lake, progress: Progress) -> bool:
    for stage in STAGES:
        if stage.partitions:
            ok = _run_partitioned(defs, instance, stage, _stage_keys(stage, instance, lake), progress)
        else:
            ok = _run_whole(defs, instance, stage, progress)
        if not ok:
            progress(f"[main] stage {stage.job} failed")
            return False
    return True


def _stage_keys(stage: Stage, instance: DagsterInstance, lake: Lake) -> list[str]:
    """The partitions a stage covers: registered dynamic ones, or the days that have landed events."""
    if stage.partitions == "listening_days":
        from assets.events import landing_days

        return landing_days(lake)
    assert stage.partitions is not None
    return instance.get_dynamic_partitions(stage.partitions)


def _run_partitioned(defs, instance: DagsterInstance, stage: Stage, keys: list[str], progress: Progress) -> bool:
    """Every partition not yet materialized by all the stage's assets, in contiguous ranges (one run each)."""
    from dagster import AssetKey
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    done = set(keys)
    for asset in stage.assets:
        done &= instance.get_materialized_partitions(AssetKey(asset))
    done -= _withheld_partitions(instance, stage, sorted(done))
    job = defs.resolve_job_def(stage.job)
    blocks = _contiguous_blocks(keys, done)
    if not blocks:
        progress(f"[main] {stage.job}: all {len(keys)} partitions already materialized")
    for block in blocks:
        progress("[main] " + stage.message.format(n=len(block), first=block[0], last=block[-1]))
        tags = {ASSET_PARTITION_RANGE_START_TAG: block[0], ASSET_PARTITION_RANGE_END_TAG: block[-1]}
        if not job.execute_in_process(instance=instance, tags=tags, raise_on_error=False).success:
            return False
    return True


def _withheld_partitions(instance: DagsterInstance, stage: Stage, keys: list[str]) -> set[str]:
    """Partitions materialized, but whose latest materialization says it was not published.

    A play day that failed its money-protecting expectations is recorded as a
    materialization (Dagster records it before the blocking check fails) yet held
    back in quarantine, so the next main run must try it again rather than skip it.
    """
    from dagster import AssetKey, AssetRecordsFilter

    withheld: set[str] = set()
    if not keys:
        return withheld
    for asset in stage.assets:
        seen: set[str] = set()
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=keys), limit=10 * len(keys)
        )
        for record in result.records:  # newest first
            event = record.asset_materialization
            if event is None or event.partition is None or event.partition in seen:
                continue
            seen.add(event.partition)
            published = event.metadata.get("published")
            if published is not None and getattr(published, "value", published) is False:
                withheld.add(event.partition)
    return withheld


def _contiguous_blocks(keys: list[str], done: set[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for key in keys:
        if key in done:
            if current:
                blocks.append(current)
                current = []
        else:
            current.append(key)
    if current:
        blocks.append(current)
    return blocks


def _run_whole(defs, instance: DagsterInstance, stage: Stage, progress: Progress) -> bool:
    progress(f"[main] {stage.message}")
    return defs.resolve_job_def(stage.job).execute_in_process(instance=instance, raise_on_error=False).success
