"""Audio assets on the small world: every accepted track playable, published atomically,
checked, reusable on re-run; and a transcode killed mid-way leaves nothing half-published."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from assets.audio import RUNNERS, Job, TrackSource, run_job
from assets.ingestion import catalog_tracks
from audio.hls import check_hls, decode_rendition
from pipelines.definitions import build_definitions
from pipelines.instance import ensure_instance
from pipelines.lake import Lake
from pipelines.resources import build_resources
from pipelines.settings import Settings
from pipelines.track_outputs import KINDS, current, is_complete

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings(ingested_small_world: Path) -> Settings:
    return Settings(data_dir=ingested_small_world)


@pytest.fixture(scope="module")
def tables(ingested_small_world: Path) -> dict[str, list[dict]]:
    con = duckdb.connect(str(ingested_small_world / "warehouse.duckdb"), read_only=True)
    out = {}
    for name in ("catalog", "track_audio", "track_renditions"):
        cursor = con.execute(f"SELECT * FROM {name}")
        columns = [d[0] for d in cursor.description]
        out[name] = [dict(zip(columns, row)) for row in cursor.fetchall()]
    con.close()
    return out


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_every_catalog_version_is_playable(tables) -> None:
    versions = {(r["isrc"], r["version"]) for r in tables["catalog"]}
    assert len(versions) >= 30
    audio = {(r["isrc"], r["version"]): r for r in tables["track_audio"]}
    assert set(audio) == versions
    assert all(r["playable"] and not r["missing"] for r in audio.values())
    for row in audio.values():
        assert row["encrypted"] and row["key_uri"] == f"/v1/keys/{row['isrc']}/{row['version']}"
        assert row["master_playlist"].endswith("/master.m3u8")
        assert -40 < row["integrated_lufs"] < 0
        gain = row["playback_gain_db"]
        if gain > 0:  # turned up only as far as the true-peak ceiling allows
            assert row["true_peak_dbtp"] + gain <= -1.0 + 0.05
        elif gain < 0:  # loud tracks are turned down to the target
            assert row["integrated_lufs"] + gain == pytest.approx(-14.0, abs=0.05)
        else:  # already at the target, or quiet with no headroom left
            assert abs(row["integrated_lufs"] + 14.0) <= 0.05 or row["true_peak_dbtp"] >= -1.05
        assert row["preview_duration_s"] == pytest.approx(30.0, abs=0.05)


def test_renditions_are_measured_and_near_target(tables) -> None:
    by_version: dict[tuple, list[dict]] = {}
    for r in tables["track_renditions"]:
        by_version.setdefault((r["isrc"], r["version"]), []).append(r)
    durations = {(r["isrc"], r["version"]): r["duration_s"] for r in tables["catalog"]}
    genres = {(r["isrc"], r["version"]): r["genre"] for r in tables["catalog"]}
    for version, rows in by_version.items():
        assert sorted(r["rendition"] for r in rows) == ["aac-128k", "aac-256k", "aac-64k"]
        for r in rows:
            assert abs(r["duration_s"] - durations[version]) <= 0.05
            assert r["peak_bitrate_bps"] >= r["average_bitrate_bps"] > 0
            if genres[version] != "sleep_sounds":
                assert abs(r["average_bitrate_bps"] / 1000 - r["target_kbps"]) <= 0.15 * r["target_kbps"], r


def test_published_outputs_verify_and_the_ladder_decodes_with_its_key(settings, tables) -> None:
    lake = build_resources(settings)["lake"].lake()
    keys = build_resources(settings)["audio_processing"].key_store()
    for row in tables["track_audio"]:
        for kind in KINDS:
            ref = current(lake, kind, row["isrc"], row["version"])
            assert ref is not None and is_complete(lake, ref), (kind, row["isrc"])
    row = tables["track_audio"][0]
    folder = Path(lake.resolve(row["master_playlist"])).parent
    assert check_hls(folder, expect_encrypted=True) == []
    pcm, rate = decode_rendition(folder, "aac-128k", key=keys.get(row["isrc"], row["version"]))
    catalog = {(r["isrc"], r["version"]): r for r in tables["catalog"]}
    assert abs(len(pcm) / rate - catalog[(row["isrc"], row["version"])]["duration_s"]) <= 0.05


def test_content_keys_live_outside_the_lake(settings, tables) -> None:
    lake_root = Path(settings.lake_root)
    key_root = Path(str(settings.key_store_url))
    assert not key_root.is_relative_to(lake_root)
    key_files = list(key_root.rglob("*.key"))
    assert len(key_files) == len(tables["track_audio"])
    assert not list(lake_root.rglob("*.key"))


def test_partitions_follow_the_catalog(settings, tables) -> None:
    ensure_instance(settings)
    with DagsterInstance.get() as instance:
        keys = set(instance.get_dynamic_partitions(catalog_tracks.name))
        assert keys == {f"{r['isrc']}.v{r['version']}" for r in tables["catalog"]}
        for asset in ("hls_renditions", "loudness", "waveform", "preview", "audio_features"):
            assert instance.get_materialized_partitions(AssetKey(asset)) == keys


def test_rerunning_a_partition_reuses_the_same_bytes_and_its_checks_pass(settings, tables) -> None:
    row = tables["track_audio"][0]
    key = f"{row['isrc']}.v{row['version']}"
    lake = build_resources(settings)["lake"].lake()
    folders = {kind: Path(lake.resolve(current(lake, kind, row["isrc"], row["version"]).prefix)) for kind in KINDS}
    before = {kind: _tree(folder) for kind, folder in folders.items()}
    ensure_instance(settings)
    defs = build_definitions(settings)
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("track_audio_processing").execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
    assert result.success
    evaluations = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) == 8  # 4 ladder checks, loudness, waveform, preview, features
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert metadata["build"].value  # per-partition metadata names the build it points at
    assert {kind: _tree(folder) for kind, folder in folders.items()} == before
    waveform_md = next(e.materialization.metadata["waveform"].value
                       for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("waveform"))  # fmt: skip
    assert waveform_md.startswith("![waveform](data:image/png;base64,")


def test_the_audio_index_is_published_for_serving(settings, tables) -> None:
    import pyarrow.parquet as pq

    lake = build_resources(settings)["lake"].lake()
    assert lake.verify("audio/index") == []
    index = pq.read_table(lake.resolve("audio/index/track_audio.parquet")).to_pylist()
    assert {(r["isrc"], r["version"]) for r in index} == {(r["isrc"], r["version"]) for r in tables["track_audio"]}


# --------------------------------------------------------------------------- kill and re-run

_CHILD = """
import sys
from assets.audio import RUNNERS, Job, TrackSource, run_job
from audio.hls import Ladder
from audio.transcode import TranscodeOptions
from pipelines.keystore import KeyStore
from pipelines.lake import Lake
lake, keys, sha = sys.argv[1], sys.argv[2], sys.argv[3]
source = TrackSource("CDA012600099.v1", "CDA012600099", 1, "catalog/audio/song.flac", sha, 240.0, True)
run_job(Job("hls", source, Lake(lake), TranscodeOptions(Ladder.standard()), RUNNERS["hls"], KeyStore(Lake(keys)),
            "/v1/keys/x/1"))
"""


def test_a_transcode_killed_midway_publishes_nothing_and_the_rerun_completes(tmp_path) -> None:
    """SIGKILL while ffmpeg is encoding: no pointer, no manifest; the re-run publishes a good ladder."""
    from audio.ffmpeg import encode_pcm
    from audio.synth import TrackSpec, synthesize

    lake = Lake(str(tmp_path / "lake"))
    song = Path(lake.resolve("catalog/audio/song.flac"))
    song.parent.mkdir(parents=True)
    encode_pcm(synthesize(TrackSpec(100, 4, "major", 240.0, "pop", 3)), 44100, song, "flac")
    sha = lake.sha256("catalog/audio/song.flac")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "lake"), str(tmp_path / "keys"), sha],
                             env=env, start_new_session=True)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "tmp").rglob("seg00003.m4s")):
        time.sleep(0.05)
    assert list((tmp_path / "tmp").rglob("seg00003.m4s")), "ffmpeg never started writing segments"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert current(lake, "hls", "CDA012600099", 1) is None
    assert not [p for p in (tmp_path / "lake").rglob("_manifest.json") if "/hls/" in p.as_posix()]

    source = TrackSource("CDA012600099.v1", "CDA012600099", 1, "catalog/audio/song.flac", sha, 240.0, True)
    from audio.hls import Ladder
    from audio.transcode import TranscodeOptions
    from pipelines.keystore import KeyStore

    result = run_job(Job("hls", source, lake, TranscodeOptions(Ladder.standard()), RUNNERS["hls"],
                         KeyStore(Lake(str(tmp_path / "keys"))), "/v1/keys/x/1"))  # fmt: skip
    assert result["built"] and not any(result["problems"].values()), result["problems"]
    ref = current(lake, "hls", "CDA012600099", 1)
    assert ref is not None and is_complete(lake, ref)
    manifest = json.loads(lake.read_bytes(f"{ref.prefix}/_manifest.json"))
    assert "master.m3u8" in manifest["files"] and "aac-256k/index.m3u8" in manifest["files"]


def test_one_broken_track_does_not_stop_the_others(tmp_path) -> None:
    """Every partition is processed; the step then fails naming only the broken one."""
    import logging
    from types import SimpleNamespace

    from dagster import Failure

    from assets.audio import run_all
    from audio.ffmpeg import encode_pcm
    from audio.hls import Ladder
    from audio.synth import TrackSpec, synthesize
    from audio.transcode import TranscodeOptions

    lake = Lake(str(tmp_path / "lake"))
    good = Path(lake.resolve("catalog/audio/good.flac"))
    good.parent.mkdir(parents=True)
    encode_pcm(synthesize(TrackSpec(120, 0, "major", 35.0, "pop", 1)), 44100, good, "flac")
    Path(lake.resolve("catalog/audio/bad.flac")).write_bytes(b"fLaC" + b"\x00" * 500)
    options = TranscodeOptions(Ladder.standard())
    jobs = [
        Job("loudness", TrackSource("CDA012600001.v1", "CDA012600001", 1, "catalog/audio/bad.flac", "x", 35.0, True),
            lake, options, RUNNERS["loudness"]),
        Job("loudness", TrackSource("CDA012600002.v1", "CDA012600002", 1, "catalog/audio/good.flac", "y", 35.0, True),
            lake, options, RUNNERS["loudness"]),
    ]  # fmt: skip
    context = SimpleNamespace(log=logging.getLogger("test"))
    with pytest.raises(Failure) as failure:
        run_all(context, jobs, workers=1)
    assert "1 of 2 tracks failed" in failure.value.description
    assert "CDA012600001.v1" in str(failure.value.metadata["failed"].value)
    assert current(lake, "loudness", "CDA012600002", 1) is not None
    assert current(lake, "loudness", "CDA012600001", 1) is None
