"""audio.preview: choosing the chorus as the 30 s preview, and cutting it to AAC."""

from __future__ import annotations

import hashlib
import math
import struct
import subprocess
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from audio.ffmpeg import FFmpegError, decode_pcm, encode_pcm, ffmpeg_binary
from audio.preview import PreviewWindow, choose_preview_window, encode_preview
from audio.synth import TrackSpec, song_structure, synthesize

SR = 44100
PREVIEW_S = 30.0

# Different styles, tempos 72..132 BPM, both modes, with and without swing,
# 160..235 s long. Above ~140 BPM a 16-bar chorus is shorter than 24 s, so no
# 30 s window could be 80% chorus; those tempos are left out on purpose.
SONGS = {
    "afrobeats-104": TrackSpec(104.0, 0, "minor", 200.0, "afrobeats", 11),
    "rumba-118": TrackSpec(118.0, 5, "major", 215.0, "rumba", 12),
    "jazz-88-swing": TrackSpec(88.0, 10, "minor", 180.0, "jazz", 13, swing=0.2),
    "rock-126": TrackSpec(126.0, 3, "major", 160.0, "rock", 14),
    "amapiano-112": TrackSpec(112.0, 8, "minor", 235.0, "amapiano", 11),
    "gospel-72-swing": TrackSpec(72.0, 1, "major", 190.0, "gospel", 12, swing=0.1),
    "electronic-132": TrackSpec(132.0, 6, "minor", 175.0, "electronic", 13),
}


@cache
def _song(name: str) -> np.ndarray:
    pcm = synthesize(SONGS[name], SR)
    pcm.flags.writeable = False
    return pcm


@cache
def _window(name: str) -> PreviewWindow:
    return choose_preview_window(_song(name), SR)


def _chorus_share(spec: TrackSpec, window: PreviewWindow) -> float:
    """Fraction of the window that falls inside chorus sections."""
    end = window.start_s + window.duration_s
    inside = sum(
        max(0.0, min(section.end_s, end) - max(section.start_s, window.start_s))
        for section in song_structure(spec)
        if section.name == "chorus"
    )
    return inside / window.duration_s


def _rms_db(x: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-20)


# --------------------------------------------------------------------------- choosing


@pytest.mark.parametrize("name", SONGS)
def test_window_lies_in_the_chorus(name: str) -> None:
    spec, window = SONGS[name], _window(name)
    assert window.method == "energy+repetition"
    assert window.duration_s == PREVIEW_S
    assert _chorus_share(spec, window) >= 0.8, (window, song_structure(spec))


@pytest.mark.parametrize("name", SONGS)
def test_window_is_not_simply_the_start_and_avoids_the_fades(name: str) -> None:
    spec, window = SONGS[name], _window(name)
    assert window.start_s >= 5.0
    assert window.start_s + window.duration_s <= spec.duration_s - 3.0
    assert 0.0 <= window.score <= 1.0


def test_most_windows_open_on_a_section_start() -> None:
    """The start is snapped onto the boundary where the chorus comes in, not mid-phrase."""
    on_boundary = 0
    for name, spec in SONGS.items():
        starts = [section.start_s for section in song_structure(spec)]
        if min(abs(_window(name).start_s - s) for s in starts) <= 0.1:
            on_boundary += 1
    assert on_boundary >= len(SONGS) // 2 + 1


def test_short_track_is_previewed_whole() -> None:
    spec = TrackSpec(100.0, 2, "major", 20.0, "pop", 3)
    pcm = synthesize(spec, SR)
    window = choose_preview_window(pcm, SR)
    assert window.start_s == 0.0
    assert window.duration_s == pytest.approx(len(pcm) / SR)
    assert window.method == "whole-track"
    exact = choose_preview_window(np.zeros((30 * SR, 2), np.float32), SR)
    assert (exact.start_s, exact.duration_s, exact.method) == (0.0, PREVIEW_S, "whole-track")


def test_choice_is_deterministic_and_takes_mono() -> None:
    pcm = _song("rock-126")
    again = choose_preview_window(pcm.copy(), SR)
    assert again == _window("rock-126")
    mono = choose_preview_window(np.ascontiguousarray(pcm.mean(axis=1)), SR)
    assert abs(mono.start_s - again.start_s) <= 0.5


def test_choice_is_fast() -> None:
    """Well under a second for four minutes; the bound is loose for busy CI machines."""
    pcm = _song("amapiano-112")  # 235 s
    best = min(_timed(lambda: choose_preview_window(pcm, SR)) for _ in range(2))
    assert best < 1.5, f"choose_preview_window took {best:.2f} s for {len(pcm) / SR:.0f} s"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_window_json() -> None:
    window = PreviewWindow(41.23456, 30.0, 0.812345678, "energy+repetition")
    assert window.to_json() == {
        "start_s": 41.235,
        "duration_s": 30.0,
        "score": 0.8123,
        "method": "energy+repetition",
    }


@pytest.mark.parametrize(
    ("pcm", "sample_rate", "length_s", "match"),
    [
        (np.zeros((SR * 60, 2), np.float32), 0, 30.0, "sample_rate"),
        (np.zeros((SR * 60, 2), np.float32), SR, 0.0, "length_s"),
        (np.zeros((SR * 60, 2), np.float32), SR, float("nan"), "length_s"),
        (np.zeros((0, 2), np.float32), SR, 30.0, "no frames"),
        (np.zeros((10, 2, 2), np.float32), SR, 30.0, "shape"),
        (np.full((SR * 60, 2), np.nan, np.float32), SR, 30.0, "NaN"),
    ],
)
def test_choice_rejects_bad_input(
    pcm: np.ndarray, sample_rate: int, length_s: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        choose_preview_window(pcm, sample_rate, length_s=length_s)


@pytest.mark.parametrize(
    ("start_s", "duration_s"), [(-1.0, 30.0), (0.0, 0.0), (float("inf"), 30.0)]
)
def test_window_rejects_impossible_spans(start_s: float, duration_s: float) -> None:
    with pytest.raises(ValueError):
        PreviewWindow(start_s, duration_s, 0.5, "manual")


# --------------------------------------------------------------------------- encoding


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, PreviewWindow]:
    """One source FLAC and its preview, shared by the encoding tests."""
    folder = tmp_path_factory.mktemp("preview")
    source = folder / "source.flac"
    encode_pcm(_song("rock-126"), SR, source, "flac")
    window = _window("rock-126")
    out = folder / "preview.m4a"
    encode_preview(source, out, window)
    return source, out, window


def test_preview_has_exact_length_layout_and_rate(
    encoded: tuple[Path, Path, PreviewWindow],
) -> None:
    """AAC adds 1024 samples of encoder priming and pads the last frame, but the
    MP4 muxer records both in an edit list that ffmpeg's demuxer honours, so the
    decoded length is exact (measured: 1,323,000 frames); 50 ms is slack only."""
    _, out, _ = encoded
    pcm, rate = decode_pcm(out)
    assert rate == 44100
    assert pcm.shape[1] == 2
    assert abs(pcm.shape[0] / rate - PREVIEW_S) <= 0.050


def test_preview_is_aac_lc_m4a_with_faststart(encoded: tuple[Path, Path, PreviewWindow]) -> None:
    _, out, _ = encoded
    data = out.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode("latin-1"))
        offset += size
    assert boxes[0] == "ftyp" and data[8:12] == b"M4A "
    assert boxes.index("moov") < boxes.index("mdat")  # playable while downloading
    info = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-i", str(out)],
        check=False,
        capture_output=True,
        text=True,
    ).stderr
    assert "Audio: aac (LC)" in info and "44100 Hz, stereo" in info


def test_preview_fades_in_and_out(encoded: tuple[Path, Path, PreviewWindow]) -> None:
    _, out, _ = encoded
    pcm, rate = decode_pcm(out)
    edge = int(0.050 * rate)
    middle = _rms_db(pcm[10 * rate : 20 * rate])
    assert _rms_db(pcm[:edge]) <= middle - 20.0
    assert _rms_db(pcm[-edge:]) <= middle - 20.0


def test_preview_bit_rate(encoded: tuple[Path, Path, PreviewWindow]) -> None:
    _, out, _ = encoded
    kbps = out.stat().st_size * 8 / PREVIEW_S / 1000.0
    assert 128 * 0.85 <= kbps <= 128 * 1.15


def test_preview_is_reproducible(encoded: tuple[Path, Path, PreviewWindow]) -> None:
    source, out, window = encoded
    again = out.with_name("again.m4a")
    encode_preview(source, again, window)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(out.read_bytes()).digest()
    assert not list(out.parent.glob("*.part"))


def test_preview_matches_the_source_at_the_offset(
    encoded: tuple[Path, Path, PreviewWindow],
) -> None:
    """A 1 s excerpt from the middle of the preview sits where the window says."""
    source, out, window = encoded
    preview, rate = decode_pcm(out)
    original, _ = decode_pcm(source)
    excerpt = preview[15 * rate : 16 * rate].mean(axis=1)
    search = int(0.1 * rate)
    expected = round(window.start_s * rate) + 15 * rate
    region = original[expected - search : expected + rate + search].mean(axis=1)
    n = len(region) + len(excerpt)
    corr = np.fft.irfft(np.fft.rfft(region, n) * np.conj(np.fft.rfft(excerpt, n)), n)
    lag = int(np.argmax(corr[: 2 * search + 1])) - search
    assert abs(lag) <= int(0.005 * rate), f"preview is {lag / rate * 1000:.1f} ms off"


def test_preview_from_a_mono_48k_source(tmp_path: Path) -> None:
    """Other rates and layouts come out as 44.1 kHz stereo of the same length."""
    t = np.arange(40 * 48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)[:, None]
    source = tmp_path / "mono48k.wav"
    encode_pcm(tone, 48000, source, "wav")
    out = tmp_path / "p.m4a"
    encode_preview(source, out, PreviewWindow(4.0, 30.0, 0.0, "manual"))
    pcm, rate = decode_pcm(out)
    assert (rate, pcm.shape[1]) == (44100, 2)
    assert abs(pcm.shape[0] / rate - PREVIEW_S) <= 0.050


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bitrate_kbps": 0}, "bitrate_kbps"),
        ({"bitrate_kbps": -128}, "bitrate_kbps"),
        ({"bitrate_kbps": 128.5}, "bitrate_kbps"),
        ({"fade_in_s": -0.5}, "fade_in_s"),
        ({"fade_out_s": float("nan")}, "fade_out_s"),
        ({"fade_in_s": 20.0, "fade_out_s": 15.0}, "do not fit"),
    ],
)
def test_encode_rejects_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    source = tmp_path / "missing-is-fine-here.flac"  # arguments are checked first
    out = tmp_path / "p.m4a"
    with pytest.raises(ValueError, match=match):
        encode_preview(source, out, PreviewWindow(10.0, 30.0, 0.5, "manual"), **kwargs)
    assert not out.exists()


def test_missing_source_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "no-such-track.flac"
    out = tmp_path / "p.m4a"
    with pytest.raises(FFmpegError, match="no-such-track.flac"):
        encode_preview(source, out, PreviewWindow(10.0, 30.0, 0.5, "manual"))
    assert list(tmp_path.iterdir()) == []


def test_window_past_the_end_fails_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "short.wav"
    encode_pcm(np.zeros((20 * SR, 2), np.float32) + 0.01, SR, source, "wav")
    out = tmp_path / "p.m4a"
    with pytest.raises(FFmpegError, match="runs past the end"):
        encode_preview(source, out, PreviewWindow(5.0, 30.0, 0.5, "manual"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.wav"]
