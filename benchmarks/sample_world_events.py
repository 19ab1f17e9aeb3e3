"""Benchmark: how long the sample world's listening events take to generate and land.

Builds the catalog, users and fraud plan (timed separately: they are not the
events' cost), then times ``generate_events`` end to end, files written
included. Peak memory is sampled over this process and all its children, so
the spawned day workers count. Budget: 180 s wall and 8 GB on the 2-core box.

    .venv/bin/python benchmarks/sample_world_events.py --scale large --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import PeakMemory, cpu_seconds
from pipelines.sample_world.catalog import generate_catalog
from pipelines.sample_world.events import generate_events
from pipelines.sample_world.fraud import kind_counts, plan_fraud
from pipelines.sample_world.scales import get_scale
from pipelines.sample_world.users import generate_users

TIME_BUDGET_S = 180.0
MEMORY_BUDGET_BYTES = 8 * 1024**3


def folder_bytes(root: Path) -> tuple[int, int]:
    """Total size and count of the Parquet files under root."""
    files = list(root.rglob("*.parquet"))
    return sum(f.stat().st_size for f in files), len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: a temp dir, removed)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp output")
    args = parser.parse_args(argv)

    scale = get_scale(args.scale)
    out = args.out or Path(tempfile.mkdtemp(prefix="cw-events-"))
    t0 = time.perf_counter()
    catalog = generate_catalog(scale, args.seed)
    t1 = time.perf_counter()
    users = generate_users(scale, args.seed)
    t2 = time.perf_counter()
    fraud = plan_fraud(scale, args.seed, users, catalog.tracks, catalog.artists)
    t3 = time.perf_counter()
    print(f"scale={scale.name} seed={args.seed} workers={args.workers} out={out}")
    print(
        f"setup: catalog {t1 - t0:.1f} s, users {t2 - t1:.1f} s, fraud plan {t3 - t2:.1f} s "
        f"({fraud.bot_users.height:,} bots: {kind_counts(fraud)})"
    )

    cpu_before = cpu_seconds()
    with PeakMemory() as memory:
        start = time.perf_counter()
        summary = generate_events(
            scale,
            args.seed,
            catalog.tracks,
            users,
            catalog.artists,
            fraud,
            out,
            workers=args.workers,
        )
        wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    size, files = folder_bytes(out)
    print(
        f"events: {summary.events:,} rows ({summary.duplicates:,} duplicates, "
        f"{summary.late:,} late, {summary.late_beyond_window:,} beyond window, "
        f"{summary.fraud_events:,} fraud) in {files:,} files"
    )
    print(
        f"wall {wall:.1f} s, {summary.events / wall:,.0f} events/s, {size / 1e9:.2f} GB written, "
        f"peak memory (all processes) {memory.peak / 1e9:.2f} GB"
    )
    print(
        f"cpu {cpu:.1f} s (user+system, this process and its workers); "
        f"load average at the end {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )
    ok = wall <= TIME_BUDGET_S and memory.peak <= MEMORY_BUDGET_BYTES
    print(
        f"{'PASS' if ok else 'FAIL'}: budget {TIME_BUDGET_S:.0f} s "
        f"and {MEMORY_BUDGET_BYTES / 1024**3:.0f} GiB"
    )
    if args.out is None and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
