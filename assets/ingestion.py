"""Ingestion assets: per-track verdicts, the catalog, quarantine and the ingestion report.

Thin orchestration over `audio.ingest` and `audio.catalog_build`: read
deliveries from the lake, judge each track (one dynamic partition per track),
then build the catalog in delivery order and publish it atomically.
"""

import json
from dataclasses import replace
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AutomationCondition,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from audio.catalog_build import CatalogBuild, build_catalog
from audio.ingest import (
    MARKER_FILE,
    Verdict,
    judge_track,
    parse_declaration,
    split_partition_key,
)
from audio.validate import AudioBounds
from pipelines.lake import Lake
from pipelines.resources import AudioToolsResource, LakeResource, WarehouseResource

track_deliveries = DynamicPartitionsDefinition(name="track_deliveries")
# One partition per accepted catalog version ("<ISRC>.v<n>"), added by the catalog asset:
# the audio assets (renditions, loudness, waveform, preview) are partitioned by it.
catalog_tracks = DynamicPartitionsDefinition(name="catalog_tracks")


def catalog_track_key(isrc: str, version: int) -> str:
    return f"{isrc}.v{int(version)}"


def split_catalog_track_key(key: str) -> tuple[str, int]:
    """``"CDA012600001.v2"`` -> ``("CDA012600001", 2)``, with a clear error for anything else."""
    isrc, sep, version = key.rpartition(".v")
    if not sep or not isrc or not version.isdigit() or int(version) < 1:
        raise ValueError(f"not a catalog track partition key (<ISRC>.v<n>): {key!r}")
    return isrc, int(version)

UPLOADS = "landing/uploads"
VERDICTS = "ingestion/verdicts"
QUARANTINE = "quarantine"
CATALOG_AUDIO = "catalog/audio"
FINGERPRINTS = "catalog/fingerprints"
OWNERS = ["team:data-platform"]


def _delivery_files(lake: Lake, delivery_id: str) -> list[str]:
    return lake.walk_files(f"{UPLOADS}/{delivery_id}")


def _judge_partition(args: tuple[str, str, str | None, str | None, str | None, str | None, AudioBounds, str | None]) -> dict:
    """Judge one partition; runs in a worker process, so it takes plain arguments."""
    key, root_url, endpoint, access_key, secret, region, bounds, ffmpeg_path = args
    from pipelines.lake import S3Options

    s3 = S3Options(endpoint, access_key, secret, region) if root_url.startswith("s3://") else None
    lake = Lake(root_url, s3=s3)
    delivery_id, index = split_partition_key(key)
    names = _delivery_files(lake, delivery_id)
    prefix = f"{UPLOADS}/{delivery_id}"
    parsed = parse_declaration(names, lambda n: lake.read_bytes(f"{prefix}/{n}"), delivery_id)
    with tempfile.TemporaryDirectory(prefix="cw-ingest-") as tmp:
        folder = _local_folder(lake, prefix, names, Path(tmp))
        verdict = judge_track(parsed, index, folder, bounds=bounds, ffmpeg_path=ffmpeg_path)
    received = lake.modified_at(f"{prefix}/{MARKER_FILE}").strftime("%Y-%m-%dT%H:%M:%SZ")
    verdict = replace(verdict, received_at=received)
    lake.write_bytes(f"{VERDICTS}/{key}.json", _json_bytes(verdict.to_json()))
    return {"key": key, "decision": verdict.decision, "reasons": verdict.reasons}


def _local_folder(lake: Lake, prefix: str, names: list[str], tmp: Path) -> Path:
    """The delivery as a local folder: the lake folder itself locally, a download from S3."""
    if lake.protocol == "file":
        return Path(lake.url(prefix).removeprefix("file://"))
    for name in names:
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(lake.read_bytes(f"{prefix}/{name}"))
    return tmp


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1, default=str) + "\n").encode()


@asset(
    partitions_def=track_deliveries,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="ingestion",
    owners=OWNERS,
    kinds={"python", "ffmpeg"},
    description="One verdict per delivered track: parsed metadata or ERN, audio checks, fingerprint.",
)
def upload_verdicts(
    context: AssetExecutionContext, lake: LakeResource, audio_tools: AudioToolsResource
) -> MaterializeResult:
    keys = list(context.partition_keys)
    args = [
        (key, lake.root_url, lake.s3_endpoint_url, lake.s3_access_key_id, lake.s3_secret_access_key,
         lake.s3_region, audio_tools.bounds(), audio_tools.ffmpeg_binary)
        for key in keys
    ]  # fmt: skip
    results: list[dict] = []
    workers = min(audio_tools.workers, len(keys)) or 1
    if workers == 1:
        results = [_judge_partition(a) for a in args]
    else:
        with ProcessPoolExecutor(workers) as pool:
            for done, result in enumerate(pool.map(_judge_partition, args), start=1):
                results.append(result)
                if done % 10 == 0 or done == len(keys):
                    context.log.info(f"judged {done}/{len(keys)} tracks")
    decisions = Counter(r["decision"] for r in results)
    reasons = Counter(code for r in results for code in r["reasons"])
    return MaterializeResult(metadata={
        "tracks": len(results),
        "accepted": decisions.get("accepted", 0),
        "rejected": decisions.get("rejected", 0),
        "reasons": MetadataValue.json(dict(sorted(reasons.items()))),
    })  # fmt: skip


def load_verdicts(lake: Lake) -> list[Verdict]:
    """Every verdict written so far, in key order."""
    files = [f for f in lake.walk_files(VERDICTS) if f.endswith(".json")] if lake.exists(VERDICTS) else []
    return [Verdict.from_json(json.loads(lake.read_bytes(f"{VERDICTS}/{f}"))) for f in sorted(files)]


@asset(
    deps=[upload_verdicts],
    group_name="ingestion",
    owners=OWNERS,
    kinds={"duckdb"},
    automation_condition=AutomationCondition.eager(),
    description="The catalog of accepted tracks (every version), built in delivery order; "
    "duplicates rejected, rejected deliveries copied to quarantine/ with a report.",
)
def catalog(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
    store = lake.lake()
    build = build_catalog(load_verdicts(store))
    _publish_audio(store, build)
    quarantined = _quarantine(store, build)
    store.write_bytes(f"{FINGERPRINTS}/index.npz", build.index.to_bytes())
    catalog_rows, decision_rows = _tables(build)
    with warehouse.get_connection() as con:
        _replace_table(con, "catalog", catalog_rows)
        _replace_table(con, "ingestion_decisions", decision_rows)
    _register_catalog_tracks(context, build)
    current = catalog_rows.filter(pl.col("is_current")) if catalog_rows.height else catalog_rows
    context.log.info(f"catalog: {current.height} tracks, {catalog_rows.height} versions, {quarantined} quarantined")
    preview = current.select("isrc", "version", "title", "artist_name", "genre").head(10) if current.height else current
    return MaterializeResult(metadata={
        "tracks": current.height,
        "versions": catalog_rows.height,
        "quarantined_deliveries": quarantined,
        "preview": MetadataValue.md(preview.to_pandas().to_markdown(index=False) if preview.height else "(empty)"),
    })  # fmt: skip


def _register_catalog_tracks(context: AssetExecutionContext, build: CatalogBuild) -> None:
    """Add a catalog_tracks partition for every accepted version not registered yet."""
    keys = [catalog_track_key(v.isrc, v.version) for v in build.versions]
    known = set(context.instance.get_dynamic_partitions(catalog_tracks.name))
    new = [k for k in keys if k not in known]
    if new:
        context.instance.add_dynamic_partitions(catalog_tracks.name, new)
        context.log.info(f"registered {len(new)} new catalog track partitions")


def _publish_audio(lake: Lake, build: CatalogBuild) -> None:
    """Copy each accepted version's audio under catalog/audio/<isrc>/v<n>/ (skipped when already there)."""
    for version in build.versions:
        track = version.verdict.track or {}
        source = f"{UPLOADS}/{version.delivery_id}/{track['audio_file']}"
        target = f"{CATALOG_AUDIO}/{version.isrc}/v{version.version}/{Path(track['audio_file']).name}"
        sha = (version.verdict.audio or {}).get("sha256")
        if lake.exists(target) and lake.sha256(target) == sha:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "audio"
            local.write_bytes(lake.read_bytes(source))
            lake.put_file(local, target)


def _quarantine(lake: Lake, build: CatalogBuild) -> int:
    """Copy every rejected delivery, untouched, to quarantine/<delivery>/ with report.json last."""
    rejected: dict[str, list[Verdict]] = {}
    for verdict in build.decisions:
        if verdict.decision == "rejected":
            rejected.setdefault(verdict.delivery_id, []).append(verdict)
    for delivery_id, verdicts in sorted(rejected.items()):
        report = {
            "delivery_id": delivery_id,
            "tracks": [
                {"partition_key": v.partition_key, "isrc": v.isrc, "reasons": v.reasons,
                 "problems": v.to_json()["problems"], **v.extra}
                for v in verdicts
            ],
        }  # fmt: skip
        target = f"{QUARANTINE}/{delivery_id}"
        payload = _json_bytes(report)
        if lake.exists(f"{target}/report.json") and lake.read_bytes(f"{target}/report.json") == payload:
            continue
        for name in _delivery_files(lake, delivery_id):
            source = f"{UPLOADS}/{delivery_id}/{name}"
            lake.write_bytes(f"{target}/files/{name}", lake.read_bytes(source))
        lake.write_bytes(f"{target}/report.json", payload)
    return len(rejected)


def _tables(build: CatalogBuild) -> tuple[pl.DataFrame, pl.DataFrame]:
    current = {v.isrc: v.version for v in build.versions}
    catalog_rows = [
        {**(v.verdict.track or {}), "isrc": v.isrc, "version": v.version, "is_current": current[v.isrc] == v.version,
         "partition_key": v.partition_key, "content_hash": v.content_hash,
         "audio_sha256": (v.verdict.audio or {}).get("sha256"),
         "duration_s": (v.verdict.audio or {}).get("decoded_duration_s"),
         "sample_rate": (v.verdict.audio or {}).get("sample_rate"),
         "channels": (v.verdict.audio or {}).get("channels"),
         "codec": (v.verdict.audio or {}).get("codec"),
         "fingerprint_b64": v.verdict.fingerprint_b64,
         "audio_path": f"{CATALOG_AUDIO}/{v.isrc}/v{v.version}/{Path((v.verdict.track or {})['audio_file']).name}"}
        for v in build.versions
    ]  # fmt: skip
    decision_rows = [
        {"partition_key": d.partition_key, "delivery_id": d.delivery_id, "track_index": d.track_index,
         "form": d.form, "isrc": d.isrc, "decision": d.decision, "reasons": d.reasons,
         "messages": [p.message for p in d.problems],
         "submitted_at": (d.track or {}).get("submitted_at"),
         "received_at": d.received_at,
         "duplicate_of": build.duplicate_of.get(d.partition_key),
         "version": build.version_of.get(d.partition_key)}
        for d in build.decisions
    ]  # fmt: skip
    catalog_df = pl.DataFrame(catalog_rows, infer_schema_length=None) if catalog_rows else pl.DataFrame()
    decisions_df = pl.DataFrame(decision_rows, infer_schema_length=None,
                                schema_overrides={"duplicate_of": pl.Utf8, "version": pl.Int64,
                                                  "isrc": pl.Utf8, "submitted_at": pl.Utf8,
                                                  "received_at": pl.Utf8})  # fmt: skip
    return catalog_df, decisions_df


def _replace_table(con, name: str, frame: pl.DataFrame) -> None:
    """Swap a warehouse table in one transaction so readers never see it half-built."""
    con.execute("BEGIN")
    try:
        if frame.width == 0:
            con.execute(f"CREATE OR REPLACE TABLE {name} (isrc VARCHAR)")
        else:
            arrow = frame.to_arrow()
            con.register("_frame", arrow)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
            con.unregister("_frame")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@asset(
    deps=[catalog],
    group_name="ingestion",
    owners=OWNERS,
    kinds={"duckdb"},
    automation_condition=AutomationCondition.eager(),
    description="Accepted and rejected tracks per day of receipt, by reason.",
)
def ingestion_report(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        con.execute(
            """
            CREATE OR REPLACE TABLE ingestion_report AS
            SELECT substr(received_at, 1, 10) AS day,
                   decision,
                   coalesce(reason, '') AS reason,
                   count(*) AS tracks
            FROM (SELECT *, unnest(CASE WHEN len(reasons) = 0 THEN [NULL] ELSE reasons END) AS reason
                  FROM ingestion_decisions)
            GROUP BY ALL ORDER BY ALL
            """
        )
        rows = con.execute("SELECT day, decision, reason, tracks FROM ingestion_report").fetchall()
    table = "\n".join(f"| {d} | {dec} | {r or '-'} | {n} |" for d, dec, r, n in rows)
    return MaterializeResult(metadata={
        "rows": len(rows),
        "report": MetadataValue.md("| day | decision | reason | tracks |\n|---|---|---|---|\n" + table),
    })  # fmt: skip


@asset_check(asset=ingestion_report, description="Fails loudly when a day's rejection share spikes.")
def rejection_spike(warehouse: WarehouseResource, audio_tools: AudioToolsResource) -> AssetCheckResult:
    limit = audio_tools.max_rejection_share
    with warehouse.get_connection() as con:
        days = con.execute(
            """
            SELECT substr(received_at, 1, 10) AS day,
                   avg(CASE WHEN decision = 'rejected' THEN 1.0 ELSE 0.0 END) AS share,
                   count(*) AS tracks
            FROM ingestion_decisions GROUP BY 1 ORDER BY 1
            """
        ).fetchall()
    spikes = _spikes(days, limit)
    return AssetCheckResult(
        passed=not spikes,
        severity=AssetCheckSeverity.ERROR,
        metadata={"days": len(days), "spikes": MetadataValue.json([[d, round(s, 3), n] for d, s, n in spikes]),
                  "max_share": limit},
    )  # fmt: skip


def _spikes(days: list[tuple[str, float, int]], limit: float) -> list[tuple[str, float, int]]:
    """Days (with at least 5 tracks) whose rejection share is over `limit` and over twice
    the share of all earlier days: a sudden change, not a steady mix of good and bad."""
    spikes, rejected, total = [], 0.0, 0
    for day, share, tracks in days:
        baseline = rejected / total if total else 0.0
        if tracks >= 5 and share > limit and share > 2 * baseline:
            spikes.append((day, share, tracks))
        rejected += share * tracks
        total += tracks
    return spikes


@asset_check(asset=catalog, description="Every judged track has exactly one final decision.")
def every_track_decided(lake: LakeResource, warehouse: WarehouseResource) -> AssetCheckResult:
    verdicts = {v.partition_key for v in load_verdicts(lake.lake())}
    with warehouse.get_connection() as con:
        decided = {r[0] for r in con.execute("SELECT partition_key FROM ingestion_decisions").fetchall()}
    missing = sorted(verdicts - decided)
    return AssetCheckResult(passed=not missing, metadata={"missing": MetadataValue.json(missing[:50])})


@asset_check(asset=catalog, description="One current version per ISRC.")
def one_current_version_per_isrc(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        dupes = con.execute(
            "SELECT isrc, count(*) FROM catalog WHERE is_current GROUP BY 1 HAVING count(*) > 1"
        ).fetchall() if _has_column(con, "catalog", "is_current") else []
    return AssetCheckResult(passed=not dupes, metadata={"duplicated_isrcs": MetadataValue.json([d[0] for d in dupes])})


def _has_column(con, table: str, column: str) -> bool:
    rows = con.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]
    ).fetchall()
    return bool(rows)


INGESTION_ASSETS = [upload_verdicts, catalog, ingestion_report]
INGESTION_CHECKS = [rejection_spike, every_track_decided, one_current_version_per_isrc]
