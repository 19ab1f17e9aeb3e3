"""audio.ffmpeg: locating the binary, bit-exact encoding, and decoding back."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from audio.ffmpeg import FFmpegError, decode_pcm, encode_pcm, ffmpeg_binary, probe_duration_s

SR = 44100
FORMATS = ("wav", "flac", "mp3")
# MP3 is padded to whole frames; the LAME gapless header lets ffmpeg trim it,
# but allow a frame and a bit of slack in case a decoder ignores it.
DURATION_TOLERANCE_S = {"wav": 0.003, "flac": 0.003, "mp3": 0.060}


def _tone(seconds: float = 2.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    left = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.3 * np.sin(2 * np.pi * 660.0 * t + 0.3)
    pcm = np.stack([left, right][:channels], axis=1)
    return pcm.astype(np.float32)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_binary_found_and_runs() -> None:
    path = ffmpeg_binary()
    assert Path(path).is_file()
    assert os.access(path, os.X_OK)


def test_override_is_used_when_it_exists(tmp_path: Path) -> None:
    fake = tmp_path / "my-ffmpeg"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert ffmpeg_binary(str(fake)) == str(fake)


@pytest.mark.parametrize("bad", ["/nonexistent/ffmpeg", "not-executable"])
def test_bad_override_names_the_path(tmp_path: Path, bad: str) -> None:
    if bad == "not-executable":
        plain = tmp_path / "ffmpeg"
        plain.write_text("not a program")
        bad = str(plain)
    with pytest.raises(FFmpegError, match=bad):
        ffmpeg_binary(bad)
    with pytest.raises(FFmpegError, match=bad):
        encode_pcm(_tone(0.1), SR, tmp_path / "x.wav", "wav", ffmpeg_path=bad)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_duration_and_signal(tmp_path: Path, fmt: str) -> None:
    pcm = _tone()
    path = tmp_path / f"tone.{fmt}"
    encode_pcm(pcm, SR, path, fmt)

    decoded, rate = decode_pcm(path)
    assert rate == SR
    assert decoded.dtype == np.float32 and decoded.ndim == 2 and decoded.shape[1] == 2
    expected_s = len(pcm) / SR
    assert abs(len(decoded) / SR - expected_s) <= DURATION_TOLERANCE_S[fmt]
    assert abs(probe_duration_s(path) - expected_s) <= DURATION_TOLERANCE_S[fmt]
    if fmt != "mp3":  # lossless: equal up to 16-bit quantisation
        np.testing.assert_allclose(decoded[: len(pcm)], pcm[: len(decoded)], atol=2.0 / 32768)
    else:  # lossy: same loudness per channel
        rms_in = np.sqrt(np.mean(pcm**2, axis=0))
        rms_out = np.sqrt(np.mean(decoded**2, axis=0))
        np.testing.assert_allclose(rms_out, rms_in, rtol=0.05)


@pytest.mark.parametrize("fmt", FORMATS)
def test_encoding_is_byte_for_byte_deterministic(tmp_path: Path, fmt: str) -> None:
    pcm = _tone(1.5)
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    encode_pcm(pcm, SR, first, fmt)
    encode_pcm(pcm, SR, second, fmt)
    assert _sha(first) == _sha(second)
    encode_pcm(pcm, SR, first, fmt)  # overwriting an existing file gives the same bytes too
    assert _sha(first) == _sha(second)


def test_encoding_leaves_no_temporary_files(tmp_path: Path) -> None:
    encode_pcm(_tone(0.5), SR, tmp_path / "out.flac", "flac")
    assert [p.name for p in tmp_path.iterdir()] == ["out.flac"]


def test_failed_encode_leaves_destination_untouched(tmp_path: Path) -> None:
    target = tmp_path / "keep.wav"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError):
        encode_pcm(np.full((10, 2), np.nan, dtype=np.float32), SR, target, "wav")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_mp3_bitrate_sets_file_size(tmp_path: Path) -> None:
    pcm = _tone(4.0)
    low, high = tmp_path / "low.mp3", tmp_path / "high.mp3"
    encode_pcm(pcm, SR, low, "mp3", bitrate_kbps=96)
    encode_pcm(pcm, SR, high, "mp3", bitrate_kbps=256)
    ratio = high.stat().st_size / low.stat().st_size
    assert 2.3 < ratio < 3.0  # CBR: size follows the bitrate


def test_decode_resamples_and_remixes(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    encode_pcm(_tone(2.0), SR, path, "wav")
    mono, rate = decode_pcm(path, sample_rate=22050, channels=1)
    assert rate == 22050
    assert mono.shape[1] == 1
    assert abs(len(mono) - 2.0 * 22050) <= 2


def test_mono_input_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    encode_pcm(_tone(1.0)[:, 0], SR, path, "flac")
    decoded, _ = decode_pcm(path)
    assert decoded.shape == (SR, 1)


def test_garbage_file_raises_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp3"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(FFmpegError) as info:
        decode_pcm(path)
    message = str(info.value)
    assert "garbage.mp3" in message and "Invalid data" in message
    assert info.value.command and info.value.stderr
    with pytest.raises(FFmpegError):
        probe_duration_s(path)


def test_missing_and_empty_files_raise(tmp_path: Path) -> None:
    with pytest.raises(FFmpegError, match="no such file"):
        decode_pcm(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(FFmpegError):
        decode_pcm(empty)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file_decodes_shorter(tmp_path: Path, fmt: str) -> None:
    """ffmpeg decodes what is there: a cut-off upload is short, not an error.

    Callers that need whole files must compare the decoded duration with the
    declared one; only a file cut inside its header is undecodable.
    """
    whole = tmp_path / f"whole.{fmt}"
    encode_pcm(_tone(3.0), SR, whole, fmt)
    data = whole.read_bytes()

    half = tmp_path / f"half.{fmt}"
    half.write_bytes(data[: len(data) // 2])
    decoded, _ = decode_pcm(half)
    assert 0.5 < len(decoded) / SR < 2.0

    header_only = tmp_path / f"header.{fmt}"
    header_only.write_bytes(data[:40])
    with pytest.raises(FFmpegError):
        decode_pcm(header_only)
