"""Audio assets: per catalog track, the HLS ladder, loudness, waveform and preview.

Thin orchestration over `audio.transcode`: each asset is partitioned by
catalog track version (``<ISRC>.v<n>``), builds its output in a private temp
folder, and publishes it with `pipelines.track_outputs` (build folder,
manifest last, then the pointer), so readers only ever see complete outputs.
Checks run inside each asset over every partition of the run and name the
partitions that fail. `track_audio` then gathers what is published into the
warehouse tables the serving layer and the UI read.
"""

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from assets.ingestion import catalog, catalog_tracks, split_catalog_track_key
from audio.hls import Encryption
from audio.taxonomy import genre as genre_info
from audio.transcode import (
    LADDER_FILE,
    LOUDNESS_FILE,
    PREVIEW_FILE,
    PREVIEW_INFO,
    WAVEFORM_FILE,
    WAVEFORM_PNG,
    TranscodeOptions,
    analysis_pcm,
    check_preview,
    check_renditions,
    make_loudness,
    make_preview,
    make_renditions,
    make_waveform,
)
from audio.waveform import validate_waveform
from pipelines.keystore import KeyStore, key_fingerprint
from pipelines.lake import Lake
from pipelines.resources import AudioProcessingResource, LakeResource, WarehouseResource
from pipelines.track_outputs import BuildRef, build_id, current, is_complete, publish_build, set_current

OWNERS = ["team:audio"]
# Bump when a change in this code changes the bytes written (forces new builds).
OUTPUT_FORMAT = {"hls": 1, "loudness": 1, "waveform": 1, "preview": 1}


@dataclass(frozen=True)
class TrackSource:
    """One catalog version, as the audio assets need it."""

    key: str
    isrc: str
    version: int
    audio_path: str
    audio_sha256: str
    duration_s: float
    is_music: bool


@dataclass(frozen=True)
class Job:
    """Everything one partition's work needs, in plain values (it may run in a worker process)."""

    kind: str
    source: TrackSource
    lake: Lake
    options: TranscodeOptions
    runner: Callable[["Job"], dict]
    key_store: KeyStore | None = None
    key_uri: str | None = None


def catalog_sources(warehouse: WarehouseResource, keys: list[str]) -> dict[str, TrackSource]:
    """The catalog rows behind the partitions; an unknown partition is an error, not a skip."""
    with warehouse.get_connection() as con:
        rows = con.execute(
            "SELECT isrc, version, audio_path, audio_sha256, duration_s, genre FROM catalog"
        ).fetchall()
    by_key = {}
    for isrc, version, path, sha, duration, genre_id in rows:
        key = f"{isrc}.v{version}"
        by_key[key] = TrackSource(key, isrc, int(version), path, sha, float(duration), _is_music(genre_id))
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise ValueError(f"catalog has no track version for partitions {missing[:10]}")
    for key in keys:
        split_catalog_track_key(key)
    return {k: by_key[k] for k in keys}


def _is_music(genre_id: str | None) -> bool:
    try:
        return genre_info(genre_id).is_music if genre_id else True
    except (KeyError, ValueError):
        return True


@contextmanager
def _local_source(lake: Lake, source: TrackSource) -> Iterator[Path]:
    """The source audio as a local file: the lake file itself locally, a download from S3."""
    if lake.protocol == "file":
        yield Path(lake.resolve(source.audio_path))
        return
    with tempfile.TemporaryDirectory(prefix="cw-audio-src-") as tmp:
        local = Path(tmp) / Path(source.audio_path).name
        local.write_bytes(lake.read_bytes(source.audio_path))
        yield local


@contextmanager
def local_build(lake: Lake, ref: BuildRef) -> Iterator[Path]:
    """A published build as a local folder, for the checks (downloaded from S3)."""
    if lake.protocol == "file":
        yield Path(lake.resolve(ref.prefix))
        return
    with tempfile.TemporaryDirectory(prefix="cw-audio-build-") as tmp:
        for name in lake.walk_files(ref.prefix):
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(lake.read_bytes(f"{ref.prefix}/{name}"))
        yield Path(tmp)


def _encryption(job: Job) -> tuple[Encryption | None, str]:
    if job.key_store is None or job.key_uri is None:
        return None, "clear"
    key = job.key_store.get_or_create(job.source.isrc, job.source.version)
    return Encryption(key, job.key_uri), key_fingerprint(key)


def build_ref(job: Job, output_format: int, options: dict, **extra: object) -> BuildRef:
    """The build this job writes: a hash of the source, the options and the output format."""
    bid = build_id(kind=job.kind, format=output_format, source=job.source.audio_sha256, options=options, **extra)
    return BuildRef(job.kind, job.source.isrc, job.source.version, bid)


def _ref(job: Job, **extra: object) -> BuildRef:
    return build_ref(job, OUTPUT_FORMAT[job.kind], job.options.fingerprint(job.kind), **extra)


def publish_output(job: Job, ref: BuildRef, make: Callable[[Path, Path], None]) -> bool:
    """Build into a private temp folder and publish, unless this exact build is already complete."""
    if is_complete(job.lake, ref):
        set_current(job.lake, ref)
        return False
    with tempfile.TemporaryDirectory(prefix=f"cw-{job.kind}-") as tmp, _local_source(job.lake, job.source) as src:
        out = Path(tmp) / "out"
        make(src, out)
        publish_build(job.lake, ref, out)
    return True


def run_job(job: Job) -> dict:
    """Build, publish and check one partition's output; returns metadata and problems per check."""
    return {"key": job.source.key, **job.runner(job)}


def _run_job_safely(job: Job) -> dict:
    """`run_job`, with a failure turned into a result so one bad track never stops the others."""
    try:
        return run_job(job)
    except Exception as exc:  # noqa: BLE001 - reported with the partition key below
        return {"key": job.source.key, "error": f"{type(exc).__name__}: {exc}"}


def _run_hls(job: Job) -> dict:
    encryption, key_tag = _encryption(job)
    ref = _ref(job, key=key_tag, key_uri=job.key_uri if encryption else None)
    ffmpeg = job.options.ffmpeg_path
    built = publish_output(job, ref, lambda src, out: make_renditions(
        src, out, job.options.ladder, encryption=encryption, ffmpeg_path=ffmpeg))  # fmt: skip
    with local_build(job.lake, ref) as folder:
        problems = check_renditions(
            folder, source_duration_s=job.source.duration_s,
            key=encryption.key if encryption else None, music=job.source.is_music, ffmpeg_path=ffmpeg,
        )  # fmt: skip
        ladder = json.loads((folder / LADDER_FILE).read_text())
    return {"build": ref.build_id, "built": built, "problems": problems, "ladder": ladder}


def _run_loudness(job: Job) -> dict:
    ref = _ref(job)
    built = publish_output(job, ref, lambda src, out: make_loudness(
        src, out, target_lufs=job.options.loudness_target_lufs,
        ceiling_dbtp=job.options.loudness_ceiling_dbtp, ffmpeg_path=job.options.ffmpeg_path))  # fmt: skip
    values = json.loads(job.lake.read_bytes(ref.path(LOUDNESS_FILE)))
    problems = []
    if not -70.0 <= values["integrated_lufs"] <= 0.0:
        problems.append(f"integrated loudness {values['integrated_lufs']} LUFS is outside -70..0")
    # ffmpeg reports to 0.1 dB, so allow one step of rounding either way.
    if values["true_peak_dbtp"] < values["sample_peak_dbfs"] - 0.15:
        problems.append("true peak is below the sample peak")
    gain = values["playback_gain_db"]
    if gain > 0 and values["true_peak_dbtp"] + gain > job.options.loudness_ceiling_dbtp + 0.05:
        problems.append("a positive playback gain would push the true peak over the ceiling")
    return {"build": ref.build_id, "built": built, "problems": {"loudness": problems}, "loudness": values}


def _run_waveform(job: Job) -> dict:
    ref = _ref(job)

    def make(src: Path, out: Path) -> None:
        pcm, rate = analysis_pcm(src, ffmpeg_path=job.options.ffmpeg_path)
        make_waveform(pcm, rate, out, pixels=job.options.waveform_pixels)

    built = publish_output(job, ref, make)
    waveform = json.loads(job.lake.read_bytes(ref.path(WAVEFORM_FILE)))
    problems = validate_waveform(waveform)
    covered = waveform.get("length", 0) * waveform.get("samples_per_pixel", 0) / max(waveform.get("sample_rate", 1), 1)
    if abs(covered - job.source.duration_s) > waveform.get("samples_per_pixel", 0) / 44100 + 0.05:
        problems.append(f"waveform covers {covered:.2f}s of a {job.source.duration_s:.2f}s track")
    png = job.lake.read_bytes(ref.path(WAVEFORM_PNG))
    return {"build": ref.build_id, "built": built, "problems": {"waveform": problems},
            "length": waveform.get("length"), "png_b64": base64.b64encode(png).decode()}  # fmt: skip


def _run_preview(job: Job) -> dict:
    ref = _ref(job)

    def make(src: Path, out: Path) -> None:
        pcm, rate = analysis_pcm(src, ffmpeg_path=job.options.ffmpeg_path)
        make_preview(src, pcm, rate, out, length_s=job.options.preview_length_s,
                     bitrate_kbps=job.options.preview_bitrate_kbps, ffmpeg_path=job.options.ffmpeg_path)  # fmt: skip

    built = publish_output(job, ref, make)
    with local_build(job.lake, ref) as folder:
        problems = check_preview(folder, source_duration_s=job.source.duration_s, ffmpeg_path=job.options.ffmpeg_path)
        info = json.loads((folder / PREVIEW_INFO).read_text())
    return {"build": ref.build_id, "built": built, "problems": {"preview": problems}, "preview": info}


# --------------------------------------------------------------------------- running a batch of partitions


RUNNERS: dict[str, Callable[[Job], dict]] = {
    "hls": _run_hls, "loudness": _run_loudness, "waveform": _run_waveform, "preview": _run_preview,
}  # fmt: skip


def _jobs(kind: str, context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
          audio: AudioProcessingResource) -> list[Job]:  # fmt: skip
    keys = list(context.partition_keys)
    sources = catalog_sources(warehouse, keys)
    options, store = audio.options(), lake.lake()
    key_store = audio.key_store() if kind == "hls" and audio.hls_encrypt else None
    return [
        Job(kind, sources[k], store, options, RUNNERS[kind], key_store,
            audio.key_uri(sources[k].isrc, sources[k].version) if key_store else None)
        for k in keys
    ]  # fmt: skip


def run_all(context: AssetExecutionContext, jobs: list[Job], workers: int) -> list[dict]:
    """Run every partition; ffmpeg's ladder already uses both cores, the rest get a process pool.

    A partition that fails does not stop the others: they are all built and
    published first, then the step fails naming the failed partitions, so the
    re-run only redoes those (the others' builds are found complete).
    """
    results: list[dict] = []
    if workers <= 1 or len(jobs) <= 1:
        for done, result in enumerate(map(_run_job_safely, jobs), start=1):
            results.append(result)
            _progress(context, jobs[0].kind, done, len(jobs))
    else:
        with ProcessPoolExecutor(workers) as pool:
            for done, result in enumerate(pool.map(_run_job_safely, jobs), start=1):
                results.append(result)
                _progress(context, jobs[0].kind, done, len(jobs))
    failed = {r["key"]: r["error"] for r in results if "error" in r}
    if failed:
        for key, error in failed.items():
            context.log.error(f"{jobs[0].kind} failed for {key}: {error}")
        raise Failure(
            description=f"{jobs[0].kind}: {len(failed)} of {len(jobs)} tracks failed; the others are published",
            metadata={"failed": MetadataValue.json(failed)},
        )
    return results


def _progress(context: AssetExecutionContext, kind: str, done: int, total: int) -> None:
    if done == total or done % 5 == 0:
        context.log.info(f"{kind}: {done}/{total} tracks done")


def _materialize(
    kind: str, context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
    audio: AudioProcessingResource, metadata: Callable[[dict], dict], checks: dict[str, str], workers: int,
) -> MaterializeResult:  # fmt: skip
    """Run every partition of the run, attach per-partition metadata, report the checks once."""
    results = run_all(context, _jobs(kind, context, lake, warehouse, audio), workers)
    for result in results:
        context.add_asset_metadata(metadata(result), partition_key=result["key"])
    return MaterializeResult(metadata={**built_counts(results), "tracks": len(results)},
                             check_results=check_results(results, checks))  # fmt: skip


def check_results(results: list[dict], checks: dict[str, str]) -> list[AssetCheckResult]:
    """One result per check for the whole run, naming the partitions that failed it."""
    out = []
    for check, category in checks.items():
        failed = {r["key"]: r["problems"][category] for r in results if r["problems"].get(category)}
        out.append(AssetCheckResult(
            check_name=check, passed=not failed, severity=AssetCheckSeverity.ERROR,
            metadata={"partitions_checked": len(results), "failed": len(failed),
                      "problems": MetadataValue.json(dict(list(failed.items())[:50]))},
        ))  # fmt: skip
    return out


def built_counts(results: list[dict]) -> dict[str, int]:
    built = sum(1 for r in results if r["built"])
    return {"built": built, "reused": len(results) - built}


_ASSET_ARGS = dict(
    partitions_def=catalog_tracks,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[catalog],
    group_name="audio",
    owners=OWNERS,
)

_HLS_CHECKS = {
    "playlists_follow_rfc8216": "playlists",
    "renditions_decode_back": "decode",
    "durations_match_source": "duration",
    "bitrates_near_target": "bitrate",
}


@asset(
    **_ASSET_ARGS,
    kinds={"ffmpeg", "hls"},
    description="HLS VOD ladder per track: AAC-LC 64/128/256 kbps (FLAC optional), fMP4 segments of 6 s, "
    "measured BANDWIDTH, AES-128 when enabled; published atomically under audio/hls/<ISRC>/v<n>/.",
    check_specs=[AssetCheckSpec(name, asset="hls_renditions") for name in _HLS_CHECKS],
)
def hls_renditions(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
    audio_processing: AudioProcessingResource,
) -> MaterializeResult:  # fmt: skip
    def metadata(result: dict) -> dict:
        table = "\n".join(
            f"| {r['rendition']} | {r['average_bitrate_bps'] / 1000:.1f} | {r['peak_bitrate_bps'] / 1000:.1f} "
            f"| {r['size_bytes'] / 1e6:.2f} | {r['duration_s']:.3f} |" for r in result["ladder"]["renditions"]
        )
        header = "| rendition | avg kbps | peak kbps | MB | seconds |\n|---|---|---|---|---|\n"
        return {"build": result["build"], "built": result["built"], "encrypted": result["ladder"]["encrypted"],
                "renditions": MetadataValue.md(header + table)}  # fmt: skip

    # one track at a time: ffmpeg's ladder already keeps both cores busy
    return _materialize("hls", context, lake, warehouse, audio_processing, metadata, _HLS_CHECKS, workers=1)


@asset(
    **_ASSET_ARGS,
    kinds={"ffmpeg"},
    description="EBU R128 loudness of the master (integrated, range, true peak) and the playback gain "
    "to -14 LUFS without passing -1 dBTP. Measured only; the master is never altered.",
    check_specs=[AssetCheckSpec("loudness_plausible", asset="loudness")],
)
def loudness(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
    audio_processing: AudioProcessingResource,
) -> MaterializeResult:  # fmt: skip
    def metadata(result: dict) -> dict:
        values = result["loudness"]
        keys = ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "playback_gain_db")
        return {**{k: values[k] for k in keys}, "build": result["build"]}

    return _materialize("loudness", context, lake, warehouse, audio_processing, metadata,
                        {"loudness_plausible": "loudness"}, audio_processing.workers)  # fmt: skip


@asset(
    **_ASSET_ARGS,
    kinds={"python"},
    description="Waveform peaks in BBC audiowaveform JSON v2 (for peaks.js) and a small PNG of it.",
    check_specs=[AssetCheckSpec("waveform_format_v2", asset="waveform")],
)
def waveform(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
    audio_processing: AudioProcessingResource,
) -> MaterializeResult:  # fmt: skip
    def metadata(result: dict) -> dict:
        return {"points": result["length"], "build": result["build"],
                "waveform": MetadataValue.md(f"![waveform](data:image/png;base64,{result['png_b64']})")}  # fmt: skip

    return _materialize("waveform", context, lake, warehouse, audio_processing, metadata,
                        {"waveform_format_v2": "waveform"}, audio_processing.workers)  # fmt: skip


@asset(
    **_ASSET_ARGS,
    kinds={"ffmpeg"},
    description="30-second AAC 128 kbps preview with fades, from the most energetic and most repeated "
    "section; its start offset is stored.",
    check_specs=[AssetCheckSpec("preview_decodes_and_fits", asset="preview")],
)
def preview(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
    audio_processing: AudioProcessingResource,
) -> MaterializeResult:  # fmt: skip
    def metadata(result: dict) -> dict:
        info = result["preview"]
        return {"start_s": info["start_s"], "duration_s": info["duration_s"], "method": info["method"],
                "build": result["build"]}  # fmt: skip

    return _materialize("preview", context, lake, warehouse, audio_processing, metadata,
                        {"preview_decodes_and_fits": "preview"}, audio_processing.workers)  # fmt: skip


# --------------------------------------------------------------------------- the table readers use


def published_tracks(lake: Lake, versions: list[tuple[str, int, bool]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per catalog version with its published outputs, and one per rendition.

    A version is `playable` only when all four outputs have a published build.
    """
    rows, renditions = [], []
    for isrc, version, is_current in versions:
        refs = {kind: current(lake, kind, isrc, version) for kind in ("hls", "loudness", "waveform", "preview")}
        complete = {kind: ref is not None and lake.is_published(ref.prefix) for kind, ref in refs.items()}
        row: dict = {"isrc": isrc, "version": version, "is_current": is_current,
                     "playable": all(complete.values()),
                     "missing": [k for k, ok in complete.items() if not ok]}  # fmt: skip
        if complete["hls"]:
            ladder = json.loads(lake.read_bytes(refs["hls"].path(LADDER_FILE)))
            row.update(hls_build=refs["hls"].build_id, master_playlist=refs["hls"].path(ladder["master"]),
                       encrypted=ladder["encrypted"], key_uri=ladder["key_uri"])  # fmt: skip
            for r in ladder["renditions"]:
                renditions.append({"isrc": isrc, "version": version, **r,
                                   "playlist": refs["hls"].path(r["playlist"])})  # fmt: skip
        if complete["loudness"]:
            row.update(json.loads(lake.read_bytes(refs["loudness"].path(LOUDNESS_FILE))))
        if complete["waveform"]:
            row.update(waveform_json=refs["waveform"].path(WAVEFORM_FILE), waveform_png=refs["waveform"].path(WAVEFORM_PNG))
        if complete["preview"]:
            info = json.loads(lake.read_bytes(refs["preview"].path(PREVIEW_INFO)))
            row.update(preview_path=refs["preview"].path(PREVIEW_FILE), preview_start_s=info["start_s"],
                       preview_duration_s=info["duration_s"])  # fmt: skip
        rows.append(row)
    return _frame(rows, _TRACK_AUDIO_SCHEMA), _frame(renditions, _RENDITION_SCHEMA)


_TRACK_AUDIO_SCHEMA = {
    "isrc": pl.Utf8, "version": pl.Int64, "is_current": pl.Boolean, "playable": pl.Boolean,
    "missing": pl.List(pl.Utf8), "hls_build": pl.Utf8, "master_playlist": pl.Utf8, "encrypted": pl.Boolean,
    "key_uri": pl.Utf8, "integrated_lufs": pl.Float64, "loudness_range_lu": pl.Float64,
    "true_peak_dbtp": pl.Float64, "sample_peak_dbfs": pl.Float64, "playback_gain_db": pl.Float64,
    "target_lufs": pl.Float64, "true_peak_ceiling_dbtp": pl.Float64, "waveform_json": pl.Utf8,
    "waveform_png": pl.Utf8, "preview_path": pl.Utf8, "preview_start_s": pl.Float64, "preview_duration_s": pl.Float64,
}  # fmt: skip
_RENDITION_SCHEMA = {
    "isrc": pl.Utf8, "version": pl.Int64, "rendition": pl.Utf8, "codec": pl.Utf8, "codecs": pl.Utf8,
    "target_kbps": pl.Int64, "average_bitrate_bps": pl.Int64, "peak_bitrate_bps": pl.Int64,
    "size_bytes": pl.Int64, "duration_s": pl.Float64, "segments": pl.Int64, "playlist": pl.Utf8,
}  # fmt: skip


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


@asset(
    deps=[hls_renditions, loudness, waveform, preview],
    group_name="audio",
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    automation_condition=AutomationCondition.eager(),
    description="Which catalog versions are playable, with their renditions, loudness, waveform and preview "
    "(warehouse tables track_audio and track_renditions; lake dataset audio/index for serving).",
)
def track_audio(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
    from assets.ingestion import _replace_table

    with warehouse.get_connection() as con:
        versions = [(i, int(v), bool(c)) for i, v, c in con.execute(
            "SELECT isrc, version, is_current FROM catalog ORDER BY isrc, version").fetchall()]  # fmt: skip
    store = lake.lake()
    tracks, renditions = published_tracks(store, versions)
    with warehouse.get_connection() as con:
        _replace_table(con, "track_audio", tracks)
        _replace_table(con, "track_renditions", renditions)
    with tempfile.TemporaryDirectory(prefix="cw-audio-index-") as tmp:
        tracks.write_parquet(Path(tmp) / "track_audio.parquet")
        renditions.write_parquet(Path(tmp) / "track_renditions.parquet")
        store.publish("audio/index", {name: Path(tmp) / name for name in ("track_audio.parquet", "track_renditions.parquet")})
    playable = int(tracks["playable"].sum()) if tracks.height else 0
    context.log.info(f"track_audio: {playable}/{tracks.height} catalog versions playable")
    by_rendition = (renditions.group_by("rendition").agg(
        pl.col("average_bitrate_bps").mean().alias("avg_bps"), pl.col("size_bytes").sum().alias("bytes"))
        .sort("rendition") if renditions.height else renditions)  # fmt: skip
    return MaterializeResult(metadata={
        "versions": tracks.height,
        "playable": playable,
        "renditions": MetadataValue.md(by_rendition.to_pandas().to_markdown(index=False) if renditions.height else "(none)"),
    })  # fmt: skip


@asset_check(asset=track_audio, description="Every current catalog track is playable (all four outputs published).")
def every_current_track_playable(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        missing = con.execute(
            "SELECT isrc, version, missing FROM track_audio WHERE is_current AND NOT playable ORDER BY 1"
        ).fetchall()
    return AssetCheckResult(
        passed=not missing,
        metadata={"not_playable": MetadataValue.json([[i, v, list(m)] for i, v, m in missing[:50]])},
    )


AUDIO_PARTITIONED_ASSETS = [hls_renditions, loudness, waveform, preview]
AUDIO_ASSETS = [*AUDIO_PARTITIONED_ASSETS, track_audio]
AUDIO_CHECKS = [every_current_track_playable]
