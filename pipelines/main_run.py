"""The main job as the README's first command runs it.

Puts the sample world into the lake (reusing it when the same world is
already there), then materializes every asset of the code location in one
Dagster run on the configured instance, so the run shows in the Dagster UI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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

    defs = build_definitions(settings)
    job = defs.resolve_job_def("main")
    asset_count = len(defs.resolve_asset_graph().get_all_asset_keys())
    if asset_count == 0:
        progress("[main] the code location defines no assets yet: nothing to materialize")
    else:
        progress(f"[main] materializing {asset_count} assets")
        with DagsterInstance.get() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        if not result.success:
            progress("[main] the run failed: see the Dagster UI (`dagster dev`) for the failed steps")
            return 1
    progress(f"[main] done in {time.perf_counter() - started:.1f}s; lake: {lake.root_url}")
    return 0
