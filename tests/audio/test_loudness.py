"""audio.loudness: EBU R128 measurement against reference signals, and playback gain."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from audio.ffmpeg import FFmpegError, encode_pcm
from audio.loudness import (
    Loudness,
    SilentAudioError,
    _parse_summary,
    measure_loudness,
    measure_loudness_pcm,
    playback_gain_db,
)
from audio.synth import TrackSpec, synthesize

SR = 48000


def _sine(
    level_dbfs: float, seconds: float, freq: float = 1000.0, phase: float = 0.0
) -> np.ndarray:
    """Mono sine whose peak is ``level_dbfs`` (EBU Tech 3341 style reference)."""
    t = np.arange(round(seconds * SR)) / SR
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def _stereo(mono: np.ndarray) -> np.ndarray:
    return np.stack([mono, mono], axis=1).astype(np.float32)


def _wav(tmp_path: Path, pcm: np.ndarray, name: str = "ref.wav", rate: int = SR) -> Path:
    path = tmp_path / name
    encode_pcm(pcm, rate, path, "wav")
    return path


@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_ebu_3341_stereo_sine_reads_its_level(tmp_path: Path, level: float) -> None:
    result = measure_loudness(_wav(tmp_path, _stereo(_sine(level, 20.0))))
    assert result.integrated_lufs == pytest.approx(level, abs=0.1)
    assert result.sample_peak_dbfs == pytest.approx(level, abs=0.05)
    assert result.true_peak_dbtp == pytest.approx(level, abs=0.2)
    assert result.loudness_range_lu == pytest.approx(0.0, abs=0.2)
    assert result.target_lufs == -14.0 and result.true_peak_ceiling_dbtp == -1.0


def test_ebu_3342_case_1_loudness_range(tmp_path: Path) -> None:
    pcm = _stereo(np.concatenate([_sine(-20.0, 20.0), _sine(-30.0, 20.0)]))
    assert measure_loudness(_wav(tmp_path, pcm)).loudness_range_lu == pytest.approx(10.0, abs=1.0)


def test_agrees_with_pyloudnorm_on_music(tmp_path: Path) -> None:
    spec = TrackSpec(bpm=108, tonic=9, mode="minor", duration_s=30, style="afrobeats", seed=11)
    pcm = synthesize(spec, sample_rate=44100)
    reference = pyloudnorm.Meter(44100).integrated_loudness(pcm.astype(np.float64))
    from_file = measure_loudness(_wav(tmp_path, pcm, rate=44100))
    in_memory = measure_loudness_pcm(pcm, 44100)
    assert from_file.integrated_lufs == pytest.approx(reference, abs=0.3)
    assert in_memory.integrated_lufs == pytest.approx(reference, abs=0.3)
    assert from_file.true_peak_dbtp >= from_file.sample_peak_dbfs


def test_true_peak_catches_inter_sample_peaks(tmp_path: Path) -> None:
    # fs/4 at 45 degrees: every sample lands at +-0.707 of the crest, so the
    # samples peak 3 dB below the waveform between them.
    # A 50 ms fade in/out: a hard start at fs/4 is a step whose ringing a true
    # peak meter rightly reports, and that would hide the steady-state value.
    amplitude_db = -6.0 - 20 * math.log10(math.sin(math.pi / 4))
    tone = _sine(amplitude_db, 3.0, freq=SR / 4, phase=math.pi / 4)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, int(0.05 * SR)))
    tone[: ramp.size] *= ramp
    tone[-ramp.size :] *= ramp[::-1]
    pcm = _stereo(tone)
    result = measure_loudness(_wav(tmp_path, pcm))
    assert result.sample_peak_dbfs == pytest.approx(-6.0, abs=0.1)
    assert result.true_peak_dbtp == pytest.approx(-3.0, abs=0.2)
    assert result.true_peak_dbtp > result.sample_peak_dbfs + 2.0


def test_mono_is_measured_as_dual_mono() -> None:
    mono = measure_loudness_pcm(_sine(-23.0, 10.0).astype(np.float32), SR)
    assert mono.integrated_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize(
    ("integrated", "true_peak", "expected"),
    [
        (-8.0, -0.5, -6.0),  # loud: always down to the target
        (-20.0, -2.0, 1.0),  # quiet: up only until the true peak hits -1 dBTP
        (-20.0, -10.0, 6.0),  # quiet with headroom: all the way to the target
        (-14.0, -3.0, 0.0),  # already at the target
        (-20.0, -0.5, 0.0),  # quiet but peaks above the ceiling: never turned down
        (float("-inf"), float("-inf"), 0.0),  # nothing above the gate
        (-75.0, -60.0, 0.0),
    ],
)
def test_playback_gain(integrated: float, true_peak: float, expected: float) -> None:
    assert playback_gain_db(integrated, true_peak) == pytest.approx(expected, abs=1e-9)


def test_playback_gain_follows_the_policy_arguments() -> None:
    assert playback_gain_db(-20.0, -10.0, target_lufs=-16.0) == pytest.approx(4.0)
    assert playback_gain_db(-20.0, -10.0, ceiling_dbtp=-8.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="NaN"):
        playback_gain_db(float("nan"), -1.0)
    with pytest.raises(ValueError, match="target_lufs"):
        playback_gain_db(-20.0, -1.0, target_lufs=float("inf"))


def test_measured_gain_and_json_round_trip(tmp_path: Path) -> None:
    result = measure_loudness(_wav(tmp_path, _stereo(_sine(-23.0, 5.0))), target_lufs=-16.0)
    assert result.playback_gain_db == pytest.approx(7.0, abs=0.1)
    data = result.to_json()
    assert set(data) == set(Loudness.__dataclass_fields__)
    assert all(round(v, 2) == v for v in data.values())
    assert Loudness.from_json(data) == result
    with pytest.raises(ValueError, match="integrated_lufs"):
        Loudness.from_json({k: v for k, v in data.items() if k != "integrated_lufs"})


def test_measuring_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = _wav(tmp_path, _stereo(_sine(-10.0, 3.0)))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    stat = path.stat()
    measure_loudness(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_silence_is_an_error(tmp_path: Path) -> None:
    silent = np.zeros((SR * 2, 2), dtype=np.float32)
    with pytest.raises(SilentAudioError, match="silence"):
        measure_loudness(_wav(tmp_path, silent))
    with pytest.raises(SilentAudioError):
        measure_loudness_pcm(silent, SR)


def test_audio_too_short_to_gate_is_an_error() -> None:
    with pytest.raises(SilentAudioError, match="too quiet or too short"):
        measure_loudness_pcm(_stereo(_sine(-20.0, 0.2)), SR)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.flac"
    with pytest.raises(FFmpegError, match=re.escape(str(missing))):
        measure_loudness(missing)


def test_non_audio_file_names_the_path(tmp_path: Path) -> None:
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio, just text pretending\n" * 20)
    with pytest.raises((FFmpegError, ValueError), match=re.escape(str(junk))):
        measure_loudness(junk)


def test_bad_pcm_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        measure_loudness_pcm(np.full((SR, 2), np.nan, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        measure_loudness_pcm(_stereo(_sine(-20.0, 1.0)), 0)


def test_summary_parser_reads_only_the_last_summary() -> None:
    stderr = (
        "  Metadata:\n    comment : [Parsed_ebur128_0 @ 0x1] Summary: I: 5.0 LUFS\n"
        "[Parsed_ebur128_0 @ 0x7f00] Summary:\n\n"
        "  Integrated loudness:\n    I:         -16.3 LUFS\n    Threshold: -26.5 LUFS\n\n"
        "  Loudness range:\n    LRA:         6.2 LU\n    Threshold: -36.4 LUFS\n\n"
        "  Sample peak:\n    Peak:       -1.4 dBFS\n\n"
        "  True peak:\n    Peak:       -0.9 dBFS\n"
        "[out#0/null @ 0x55] video:0KiB audio:517KiB\n"
    )
    assert _parse_summary(stderr) == {
        "integrated": -16.3,
        "range": 6.2,
        "sample_peak": -1.4,
        "true_peak": -0.9,
    }
    with pytest.raises(ValueError, match="no ebur128 summary"):
        _parse_summary("nothing here")
