"""audio.inspect + audio.validate: every bad upload gets its exact reason; good music passes.

The bad files are made the way they happen in practice (a transfer cut off,
a file renamed, an export with the wrong settings) from cheap synthetic
signals; the good ones are real synthesised music in every accepted format.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audio.ffmpeg import encode_pcm, ffmpeg_binary
from audio.inspect import inspect_audio
from audio.reasons import Reason
from audio.synth import TrackSpec, synthesize
from audio.validate import AudioBounds, validate_audio

SR = 44100
R = Reason
# Codes validate_audio decides; AUDIO_MISSING / AUDIO_CHECKSUM_MISMATCH are the delivery's.
VALIDATION_CODES = {r.value for r in Reason if r.name.startswith("AUDIO_")} - {
    "AUDIO_MISSING",
    "AUDIO_CHECKSUM_MISMATCH",
}
NOT_AUDIO_FILES = {"metadata.json", "BatchComplete"}


# --------------------------------------------------------------------------- signals


def _tune(seconds: float, sr: int = SR, channels: int = 2, peak: float = 0.5) -> np.ndarray:
    """A cheap music-like signal: a plucked triad on a beat, with a little noise."""
    n = int(round(seconds * sr))
    t = np.arange(n, dtype=np.float64) / sr
    beat = np.exp(-((t * 2.0) % 1.0) * 6.0)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3.0
    noise = np.random.default_rng(int(seconds * 10)).standard_normal(n) * 0.02
    mono = (tone * beat + noise) * peak / 1.05
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def _ffmpeg_encode(pcm: np.ndarray, sr: int, path: Path, *args: str) -> Path:
    """Encode with explicit ffmpeg output options (formats encode_pcm does not offer)."""
    frames = np.ascontiguousarray(pcm, dtype="<f4")
    command = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(sr), "-ac", str(frames.shape[1]), "-i", "pipe:0",
        *args, str(path),
    ]  # fmt: skip
    subprocess.run(command, input=frames.tobytes(), check=True, capture_output=True, timeout=120)
    return path


def _encode(pcm: np.ndarray, path: Path, fmt: str, sr: int = SR, **kw: int) -> Path:
    encode_pcm(pcm, sr, path, fmt, **kw)  # type: ignore[arg-type]
    return path


def _cut(path: Path, keep: float) -> Path:
    """Keep the first ``keep`` share of the bytes: an upload interrupted mid-transfer."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _renamed(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


def _corrupt_middle(path: Path, length: int) -> Path:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + length] = np.random.default_rng(3).bytes(length)
    path.write_bytes(bytes(data))
    return path


def _midi_bytes() -> bytes:
    """A one-note type-0 standard MIDI file."""
    events = b"\x00\x90\x3c\x40\x60\x80\x3c\x40\x00\xff\x2f\x00"
    return (
        b"MThd" + (6).to_bytes(4, "big") + b"\x00\x00\x00\x01\x00\x60"
        + b"MTrk" + len(events).to_bytes(4, "big") + events
    )  # fmt: skip


def _long_quiet_tones(seconds: float, sr: int = 22050) -> np.ndarray:
    """A long mono piece (a chime every 4 s) that FLAC stores compactly."""
    period = np.zeros(4 * sr, dtype=np.float32)
    t = np.arange(sr // 2) / sr
    period[: sr // 2] = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.1)).astype(np.float32)
    n = int(seconds * sr)
    return np.tile(period, n // period.size + 1)[:n, None]


# --------------------------------------------------------------------------- bad files

Maker = Callable[[Path], Path]


def _truncated(fmt: str, ext: str) -> Maker:
    def make(d: Path) -> Path:
        return _cut(_encode(_tune(60.0), d / f"cut.{ext}", fmt), 0.7)

    return make


def _truncated_aiff(d: Path) -> Path:
    return _cut(_ffmpeg_encode(_tune(60.0), SR, d / "cut.aiff", "-c:a", "pcm_s16be"), 0.7)


def _wma(d: Path) -> Path:
    args = ("-c:a", "wmav2", "-b:a", "128k", "-f", "asf")
    return _ffmpeg_encode(_tune(35.0), SR, d / "x.wma", *args)


def _webm_opus(d: Path) -> Path:
    return _ffmpeg_encode(_tune(35.0), SR, d / "x.webm", "-c:a", "libopus", "-b:a", "96k")


def _m4a_without_index(d: Path) -> Path:
    """An M4A cut off before its moov atom (written last) arrived."""
    return _cut(_ffmpeg_encode(_tune(35.0), SR, d / "x.m4a", "-c:a", "aac", "-b:a", "128k"), 0.6)


def _image_as_mp3(d: Path) -> Path:
    path = d / "cover.png"
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "color=c=red:s=32x32", "-frames:v", "1", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return _renamed(path, "cover.mp3")


def _id3_only(d: Path) -> Path:
    frame = b"TIT2" + (6).to_bytes(4, "big") + b"\x00\x00" + b"\x03Song\x00"
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(frame)]) + frame
    path = d / "tag-only.mp3"
    path.write_bytes(tag)
    return path


def _wav_header_only(d: Path) -> Path:
    path = _encode(_tune(35.0), d / "header.wav", "wav")
    path.write_bytes(path.read_bytes()[:44])
    return path


def _dither(d: Path) -> Path:
    """Near-silence: TPDF dither at the 16-bit LSB, what a faded-out export leaves."""
    rng = np.random.default_rng(5)
    lsb = 1.0 / 32768.0
    noise = (rng.random((SR * 35, 2)) - rng.random((SR * 35, 2))) * lsb
    return _encode(noise.astype(np.float32), d / "dither.wav", "wav")


def _clipped(fmt: str, ext: str) -> Maker:
    def make(d: Path) -> Path:
        hot = np.clip(_tune(35.0, peak=0.5) * 30.0, -1.0, 1.0)  # ~30 dB too hot
        return _encode(hot, d / f"hot.{ext}", fmt)

    return make


def _channels(n: int, fmt: str) -> Maker:
    def make(d: Path) -> Path:
        return _encode(np.repeat(_tune(35.0, channels=1), n, axis=1), d / f"surround.{fmt}", fmt)

    return make


def _rate(rate: int, fmt: str) -> Maker:
    def make(d: Path) -> Path:
        return _encode(_tune(35.0, sr=rate), d / f"rate{rate}.{fmt}", fmt, sr=rate)

    return make


def _raw(name: str, data: bytes) -> Maker:
    def make(d: Path) -> Path:
        path = d / name
        path.write_bytes(data)
        return path

    return make


BAD_FILES: dict[str, tuple[Maker, Reason]] = {
    "truncated_flac": (_truncated("flac", "flac"), R.AUDIO_TRUNCATED),
    "truncated_mp3": (_truncated("mp3", "mp3"), R.AUDIO_TRUNCATED),
    "truncated_wav": (_truncated("wav", "wav"), R.AUDIO_TRUNCATED),
    "truncated_aiff": (_truncated_aiff, R.AUDIO_TRUNCATED),
    "mp3_broken_middle": (
        lambda d: _corrupt_middle(_encode(_tune(40.0), d / "broken.mp3", "mp3"), 48_000),
        R.AUDIO_TRUNCATED,
    ),
    "zero_bytes": (_raw("empty.wav", b""), R.AUDIO_EMPTY),
    "text_as_wav": (_raw("lyrics.wav", b"Verse 1\nMotema na ngai\n" * 20), R.AUDIO_UNDECODABLE),
    "random_as_flac": (
        _raw("noise.flac", np.random.default_rng(1).bytes(200_000)),
        R.AUDIO_UNDECODABLE,
    ),
    "id3_tag_only": (_id3_only, R.AUDIO_UNDECODABLE),
    "image_as_mp3": (_image_as_mp3, R.AUDIO_UNDECODABLE),
    "m4a_without_index": (_m4a_without_index, R.AUDIO_UNDECODABLE),
    "wav_header_only": (_wav_header_only, R.AUDIO_UNDECODABLE),
    "flac_named_mp3": (
        lambda d: _renamed(_encode(_tune(35.0), d / "x.flac", "flac"), "x.mp3"),
        R.AUDIO_WRONG_EXTENSION,
    ),
    "wav_named_flac": (
        lambda d: _renamed(_encode(_tune(35.0), d / "x.wav", "wav"), "y.flac"),
        R.AUDIO_WRONG_EXTENSION,
    ),
    "mp3_without_extension": (
        lambda d: _renamed(_encode(_tune(35.0), d / "x.mp3", "mp3"), "track"),
        R.AUDIO_WRONG_EXTENSION,
    ),
    "wma": (_wma, R.AUDIO_FORMAT_NOT_ALLOWED),
    "opus_in_webm": (_webm_opus, R.AUDIO_FORMAT_NOT_ALLOWED),
    "midi": (_raw("song.mid", _midi_bytes()), R.AUDIO_FORMAT_NOT_ALLOWED),
    "too_short": (lambda d: _encode(_tune(10.0), d / "sketch.flac", "flac"), R.AUDIO_TOO_SHORT),
    "too_long": (
        lambda d: _encode(_long_quiet_tones(20.5 * 60, sr=32000), d / "ambient.flac", "flac",
                          sr=32000),
        R.AUDIO_TOO_LONG,
    ),
    "digital_silence": (
        lambda d: _encode(np.zeros((SR * 35, 2), np.float32), d / "silence.flac", "flac"),
        R.AUDIO_SILENT,
    ),
    "near_silent_dither": (_dither, R.AUDIO_SILENT),
    "clipped_wav": (_clipped("wav", "wav"), R.AUDIO_CLIPPING),
    "clipped_mp3": (_clipped("mp3", "mp3"), R.AUDIO_CLIPPING),
    "rate_4khz": (_rate(4000, "wav"), R.AUDIO_SAMPLE_RATE),
    "rate_16khz": (_rate(16000, "flac"), R.AUDIO_SAMPLE_RATE),
    "eight_channels": (_channels(8, "wav"), R.AUDIO_CHANNELS),
    "six_channels": (_channels(6, "flac"), R.AUDIO_CHANNELS),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_gets_its_reason(kind: str, tmp_path: Path) -> None:
    make, reason = BAD_FILES[kind]
    path = make(tmp_path)
    facts, problems = validate_audio(path, path.name)
    assert [p.reason for p in problems] == [reason], (kind, problems, facts)
    problem = problems[0]
    assert problem.field == path.name
    assert path.name in problem.message and "?" not in problem.message, problem.message
    if reason is not R.AUDIO_EMPTY:
        assert facts is not None and facts.size_bytes == path.stat().st_size


# --------------------------------------------------------------------------- good files

MUSIC = TrackSpec(bpm=112.0, tonic=7, mode="minor", duration_s=32.0, style="afrobeats", seed=11)
QUIET = TrackSpec(
    bpm=92.0, tonic=2, mode="major", duration_s=31.0, style="rnb", seed=12, level_db=-50.0
)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return synthesize(MUSIC, SR)


GOOD_FILES: dict[str, Callable[[np.ndarray, Path], Path]] = {
    "song.wav": lambda pcm, d: _encode(pcm, d / "song.wav", "wav"),
    "song.flac": lambda pcm, d: _encode(pcm, d / "song.flac", "flac"),
    "song.mp3": lambda pcm, d: _encode(pcm, d / "song.mp3", "mp3", bitrate_kbps=320),
    "song.m4a": lambda pcm, d: _ffmpeg_encode(pcm, SR, d / "song.m4a", "-c:a", "aac"),
    "song.aac": lambda pcm, d: _ffmpeg_encode(pcm, SR, d / "song.aac", "-c:a", "aac", "-f", "adts"),
    "song.ogg": lambda pcm, d: _ffmpeg_encode(pcm, SR, d / "song.ogg", "-c:a", "libvorbis"),
    "song.oga": lambda pcm, d: _ffmpeg_encode(pcm, SR, d / "song.oga", "-c:a", "flac"),
    "song.aiff": lambda pcm, d: _ffmpeg_encode(pcm, SR, d / "song.aiff", "-c:a", "pcm_s16be"),
    "song-24bit-96k.wav": lambda pcm, d: _ffmpeg_encode(
        pcm, SR, d / "song-24bit-96k.wav", "-c:a", "pcm_s24le", "-ar", "96000"
    ),
    "song-mono-22k.FLAC": lambda pcm, d: _ffmpeg_encode(
        pcm, SR, d / "song-mono-22k.FLAC", "-ac", "1", "-ar", "22050", "-c:a", "flac"
    ),
    "song-vbr.mp3": lambda pcm, d: _ffmpeg_encode(
        pcm, SR, d / "song-vbr.mp3", "-c:a", "libmp3lame", "-q:a", "4"
    ),
    "song-no-xing.mp3": lambda pcm, d: _ffmpeg_encode(
        pcm, SR, d / "song-no-xing.mp3", "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0"
    ),
}


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_good_music_passes(name: str, music: np.ndarray, tmp_path: Path) -> None:
    path = GOOD_FILES[name](music, tmp_path)
    facts, problems = validate_audio(path, path.name)
    assert problems == [], problems
    assert facts is not None and facts.decodable
    assert facts.decoded_duration_s == pytest.approx(MUSIC.duration_s, abs=0.1)
    assert facts.channels in (1, 2) and facts.sample_rate in (22050, 44100, 96000)
    assert -30.0 < (facts.peak_dbfs or -999) <= 0.0 and facts.clipped_ratio == 0.0


def test_quiet_but_real_music_passes(tmp_path: Path) -> None:
    path = _encode(synthesize(QUIET, SR), tmp_path / "quiet.flac", "flac")
    facts, problems = validate_audio(path, path.name)
    assert problems == [], problems
    assert facts is not None and -60.0 < (facts.peak_dbfs or 0.0) < -30.0


# --------------------------------------------------------------------------- facts and rules


def test_facts_are_exact_for_a_known_file(tmp_path: Path) -> None:
    pcm = _tune(31.0, peak=0.5)
    path = _encode(pcm, tmp_path / "known.wav", "wav")
    facts = inspect_audio(path)
    assert (facts.container, facts.codec) == ("wav", "pcm_s16le")
    assert (facts.sample_rate, facts.channels) == (SR, 2)
    assert facts.declared_duration_s == pytest.approx(31.0, abs=1e-6)
    assert facts.decoded_duration_s == pytest.approx(31.0, abs=1e-6)
    assert facts.peak_dbfs == pytest.approx(20 * np.log10(np.abs(pcm).max()), abs=0.01)
    rms = 10 * np.log10(np.mean(pcm.astype(np.float64) ** 2))
    assert facts.rms_dbfs == pytest.approx(rms, abs=0.01)
    data = path.read_bytes()
    assert facts.md5 == hashlib.md5(data).hexdigest()
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size_bytes == len(data) and facts.decoder_errors == 0


def test_checks_after_identity_all_report(tmp_path: Path) -> None:
    """Independent defects are all reported: a sender fixes them in one go."""
    short_4k_named_flac = _encode(_tune(10.0, sr=4000), tmp_path / "x.wav", "wav", sr=4000)
    _, problems = validate_audio(short_4k_named_flac, "take.flac")
    assert [p.reason for p in problems] == [
        R.AUDIO_WRONG_EXTENSION,
        R.AUDIO_SAMPLE_RATE,
        R.AUDIO_TOO_SHORT,
    ]


def test_bounds_are_configurable(tmp_path: Path) -> None:
    path = _rate(16000, "flac")(tmp_path)
    assert validate_audio(path, path.name, AudioBounds(min_sample_rate=8000))[1] == []


def test_missing_file_and_directory_get_verdicts(tmp_path: Path) -> None:
    facts, problems = validate_audio(tmp_path / "nope.wav", "nope.wav")
    assert facts is None and [p.reason for p in problems] == [R.AUDIO_MISSING]
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    facts, problems = validate_audio(folder, "folder.wav")
    assert facts is None and [p.reason for p in problems] == [R.AUDIO_UNDECODABLE]


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20.5 minutes of mono 22.05 kHz FLAC (shared: encoding it takes a second)."""
    path = tmp_path_factory.mktemp("long") / "long.flac"
    return _encode(_long_quiet_tones(20.5 * 60), path, "flac", sr=22050)


def test_hung_decoder_is_cut_off(long_flac: Path) -> None:
    """A decode that runs past its deadline is killed and reported, never waited on forever."""
    facts = inspect_audio(long_flac, timeout_s=0.05)
    assert facts.failure is not None and "time limit" in facts.failure
    _, problems = validate_audio(long_flac, long_flac.name, timeout_s=0.05)
    assert [p.reason for p in problems] == [R.AUDIO_UNDECODABLE]


def test_memory_stays_bounded_on_a_long_file(long_flac: Path) -> None:
    """A 20-minute file is summarised chunk by chunk, not held in memory."""
    tracemalloc.start()
    facts = inspect_audio(long_flac)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert facts.decoded_duration_s == pytest.approx(1230.0, abs=0.01)
    assert peak < 32 * 1024**2, peak  # the decoded audio alone would be ~108 MB of float32


def test_validation_is_fast(long_flac: Path) -> None:
    """Well over 20x real time: the long file is 1230 s of audio."""
    started = time.perf_counter()
    validate_audio(long_flac, long_flac.name)
    assert time.perf_counter() - started < 1230.0 / 20


# --------------------------------------------------------------------------- the sample world


def _delivery_audio(folder: Path) -> list[Path]:
    """The audio files a delivery holds (every file but its declaration and marker)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name not in NOT_AUDIO_FILES and p.suffix != ".xml"
    )


@pytest.mark.slow
def test_sample_world_audio_verdicts(small_world_dir: Path) -> None:
    """Every audio-defective delivery gets its planted code; every other delivery's audio passes."""
    manifest = json.loads((small_world_dir / "truth/expected_rejections.json").read_text())
    expected = {d: set() for d in manifest["accepted"]}
    for rejection in manifest["rejections"]:
        expected[rejection["delivery_id"]] = set(rejection["reasons"]) & VALIDATION_CODES
    uploads = small_world_dir / "landing/uploads"
    checked = set()
    for delivery_id, codes in sorted(expected.items()):
        for path in _delivery_audio(uploads / delivery_id):
            _, problems = validate_audio(path, path.name)
            assert {p.reason.value for p in problems} == codes, (delivery_id, problems)
            checked |= codes
    planted = {c for r in manifest["rejections"] for c in r["reasons"]} & VALIDATION_CODES
    assert checked == planted  # every planted audio defect was actually looked at
