"""Generate a whole sample world into a folder: the entry point for the CLI and the main job.

Layout under `out` (the same layout the lake uses, so a local lake can be the
output folder itself):

    landing/uploads/<delivery>/    track deliveries (audio + metadata.json, or DDEX ERN) and markers
    landing/events/date=.../       listening event batches, partitioned by arrival day
    landing/users/users.parquet    the user base (app database export)
    landing/finance/               revenue per month, country and plan; FX rates
    reference/catalog/             the labels' full catalog metadata (what metadata-only scales import)
    truth/                         what the generator knows and the platform must discover
    world.json                     scale, seed, counts and the sha256 of every file written
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from pipelines.sample_world.catalog import Catalog, generate_catalog
from pipelines.sample_world.events import generate_events
from pipelines.sample_world.finance import fx_rates, revenue
from pipelines.sample_world.fraud import plan_fraud
from pipelines.sample_world.parquet_io import write_parquet, write_text
from pipelines.sample_world.scales import Scale, get_scale
from pipelines.sample_world.uploads import write_uploads
from pipelines.sample_world.users import PUBLIC_COLUMNS, generate_users

GENERATOR_VERSION = "1"
WORLD_FILE = "world.json"
TRUTH_TRACK_COLUMNS = ("bpm", "tonic", "mode", "style", "swing", "level_db", "popularity")

Progress = Callable[[str], None]


@dataclass
class WorldSummary:
    """What was generated: counts for people, hashes for determinism checks."""

    scale: str
    seed: int
    generator_version: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def generate_world(
    scale_name: str, seed: int, out: Path, *, workers: int = 2, progress: Progress | None = None
) -> WorldSummary:
    """Write the world for (scale, seed) into `out`; same inputs give the same bytes."""
    say = progress or (lambda _msg: None)
    scale = get_scale(scale_name)
    out.mkdir(parents=True, exist_ok=True)
    existing_world(out, scale.name, seed)  # refuses to mix two worlds in one folder
    summary = WorldSummary(scale.name, seed, GENERATOR_VERSION)

    def step(name: str, fn: Callable[[], object]) -> object:
        say(f"[sample-world] {name} ...")
        started = time.perf_counter()
        result = fn()
        summary.seconds[name] = round(time.perf_counter() - started, 2)
        say(f"[sample-world] {name} done in {summary.seconds[name]:.1f}s")
        return result

    catalog: Catalog = step("catalog", lambda: generate_catalog(scale, seed))  # type: ignore[assignment]
    _write_catalog(catalog, out)
    users: pl.DataFrame = step("users", lambda: generate_users(scale, seed))  # type: ignore[assignment]
    fraud = step("fraud plan", lambda: plan_fraud(scale, seed, users, catalog.tracks, catalog.artists))
    all_users = pl.concat([users, fraud.bot_users.select(users.columns)], how="vertical")  # type: ignore[attr-defined]
    _write_users(all_users, fraud, out)
    uploads = step("uploads", lambda: write_uploads(scale, seed, catalog, out, workers=workers, progress=say))
    events = step(
        "events",
        lambda: generate_events(
            scale, seed, catalog.tracks, all_users, catalog.artists, fraud, out, workers=workers, progress=say
        ),
    )
    step("finance", lambda: _write_finance(scale, seed, all_users, out))

    summary.counts = {
        "tracks": catalog.tracks.height,
        "artists": catalog.artists.height,
        "labels": catalog.labels.height,
        "users": all_users.height,
        "bot_accounts": fraud.bot_users.height,  # type: ignore[attr-defined]
        **{f"uploads_{k}": v for k, v in _as_counts(uploads).items()},
        **{f"events_{k}": v for k, v in _as_counts(events).items()},
    }
    summary.files = file_hashes(out)
    write_text(json.dumps(asdict(summary) | {"seconds": {}}, indent=2, sort_keys=True) + "\n", out / WORLD_FILE)
    return summary


WORLD_FOLDERS = ("landing", "reference", "truth")


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file the world wrote, keyed by path relative to root."""
    hashes = {}
    found = (p for folder in WORLD_FOLDERS for p in (root / folder).rglob("*") if p.is_file())
    for path in sorted(found):
        rel = path.relative_to(root).as_posix()
        if rel == WORLD_FILE or path.name.startswith(".tmp-"):
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        hashes[rel] = digest.hexdigest()
    return hashes


class WorldMismatchError(RuntimeError):
    """The output folder holds a different world; mixing two would corrupt both."""


def existing_world(out: Path, scale_name: str, seed: int) -> dict | None:
    """The world.json already in `out` if it is this world and intact; None if there is none.

    Raises WorldMismatchError when `out` holds another scale, seed or generator version.
    """
    path = out / WORLD_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    if (info.get("scale"), info.get("seed"), info.get("generator_version")) != (scale_name, seed, GENERATOR_VERSION):
        raise WorldMismatchError(
            f"{out} already holds the {info.get('scale')} world with seed {info.get('seed')} "
            f"(generator {info.get('generator_version')}); refusing to mix another world into it. "
            "Use another data folder (CONGOWAVE_DATA_DIR) or remove that one first."
        )
    for rel in info.get("files", {}):
        if not (out / rel).is_file():
            return None
    return info


def _as_counts(result: object) -> dict[str, int]:
    data = asdict(result) if hasattr(result, "__dataclass_fields__") else dict(result)  # type: ignore[call-overload]
    return {k: int(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _write_catalog(catalog: Catalog, out: Path) -> None:
    ref = out / "reference" / "catalog"
    write_parquet(catalog.labels, ref / "labels.parquet")
    write_parquet(catalog.artists.drop("popularity"), ref / "artists.parquet")
    write_parquet(catalog.albums, ref / "albums.parquet")
    write_parquet(catalog.tracks.drop(TRUTH_TRACK_COLUMNS), ref / "tracks.parquet")
    write_parquet(catalog.payees, ref / "payees.parquet")
    write_parquet(catalog.rights_splits, ref / "rights_splits.parquet")
    truth = catalog.tracks.select("track_id", "artist_id", "genre", *TRUTH_TRACK_COLUMNS)
    write_parquet(truth, out / "truth" / "catalog_truth.parquet")


def _write_users(users: pl.DataFrame, fraud: object, out: Path) -> None:
    write_parquet(users.select(PUBLIC_COLUMNS), out / "landing" / "users" / "users.parquet")
    hidden = users.select("user_id", pl.col("_cluster").alias("taste_cluster"), pl.col("_activity").alias("activity"))
    write_parquet(hidden, out / "truth" / "users_truth.parquet")
    write_parquet(fraud.accounts_truth, out / "truth" / "fraud_accounts.parquet")  # type: ignore[attr-defined]
    write_parquet(fraud.tracks_truth, out / "truth" / "fraud_tracks.parquet")  # type: ignore[attr-defined]


def _write_finance(scale: Scale, seed: int, users: pl.DataFrame, out: Path) -> None:
    fx = fx_rates(scale, seed)
    write_parquet(fx, out / "landing" / "finance" / "fx_rates.parquet")
    write_parquet(revenue(scale, seed, users, fx), out / "landing" / "finance" / "revenue.parquet")
