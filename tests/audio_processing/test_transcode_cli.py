"""`congowave audio transcode IN OUTDIR`: the assets' code path on one local file."""

from __future__ import annotations

import json
from pathlib import Path

import m3u8
import pytest

from audio.ffmpeg import encode_pcm
from audio.hls import check_hls, decode_rendition
from audio.synth import TrackSpec, synthesize
from audio.waveform import validate_waveform
from pipelines.cli import main


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-src") / "song.wav"
    encode_pcm(synthesize(TrackSpec(96, 7, "major", 45.0, "highlife", 5)), 44100, path, "wav")
    return path


def test_transcode_writes_all_four_outputs_and_a_summary(song, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["audio", "transcode", str(song), str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"hls", "loudness", "waveform", "preview", "duration_s", "wall_s"} <= set(summary)
    assert [r["rendition"] for r in summary["hls"]["renditions"]] == ["aac-64k", "aac-128k", "aac-256k"]
    assert check_hls(out / "hls", expect_encrypted=False) == []
    assert validate_waveform(json.loads((out / "waveform" / "waveform.json").read_text())) == []
    assert (out / "waveform" / "waveform.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "preview" / "preview.m4a").stat().st_size > 0
    assert json.loads((out / "preview" / "preview.json").read_text())["duration_s"] == 30.0
    assert json.loads((out / "loudness" / "loudness.json").read_text())["integrated_lufs"] < 0


def test_transcode_encrypts_with_a_key_kept_apart(song, tmp_path, capsys) -> None:
    out, key_file = tmp_path / "out", tmp_path / "secret" / "song.key"
    key_file.parent.mkdir()
    args = ["audio", "transcode", str(song), str(out), "--encrypt", "--key-out", str(key_file),
            "--key-uri", "https://api.example/v1/keys/X/1", "--lossless"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    assert check_hls(out / "hls", expect_encrypted=True) == []
    master = m3u8.load(str(out / "hls" / "master.m3u8"))
    assert [p.stream_info.codecs for p in master.playlists][-1] == "fLaC"
    key = key_file.read_bytes()
    assert len(key) == 16 and not list(out.rglob("*.key"))
    pcm, rate = decode_rendition(out / "hls", "flac", key=key)
    assert abs(len(pcm) / rate - 45.0) < 0.05


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audio", "transcode", "/nonexistent.wav", "OUT"], "no such audio file"),
        (["audio", "transcode", "SONG", "OUT", "--encrypt"], "--key-out"),
    ],
)
def test_transcode_refuses_bad_arguments(song, tmp_path, argv, message) -> None:
    argv = [a.replace("SONG", str(song)).replace("OUT", str(tmp_path / "o")) for a in argv]
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_transcode_refuses_a_non_empty_outdir_and_junk_input(song, tmp_path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not empty"):
        main(["audio", "transcode", str(song), str(busy)])
    assert (busy / "keep.txt").read_text() == "mine"
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"not audio" * 50)
    with pytest.raises(SystemExit, match="junk.flac"):
        main(["audio", "transcode", str(junk), str(tmp_path / "o2")])
