"""EBU R128 / ITU-R BS.1770 loudness measurement, and the gain a player applies.

Streaming services do not master tracks to a common level; they measure each
track once and store a *playback gain* that the player applies, so the file
the artist delivered is never altered. This module therefore only measures:
it runs ffmpeg's ``ebur128`` filter (K-weighting, 400 ms gated blocks, true
peak by oversampling, per EBU Tech 3341/3342) over the audio and reads the
filter's end-of-stream summary. Nothing is written, so the measured file is
byte-for-byte untouched.

The summary ffmpeg prints is rounded to 0.1 LU / 0.1 dB. That is the
resolution EBU Tech 3341 asks meters to display and finer than any audible
gain step, so the values here carry that resolution and no more.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audio.ffmpeg import FFmpegError, _as_frames, ffmpeg_binary, run_ffmpeg

__all__ = [
    "ABSOLUTE_GATE_LUFS",
    "DEFAULT_CEILING_DBTP",
    "DEFAULT_TARGET_LUFS",
    "Loudness",
    "SilentAudioError",
    "measure_loudness",
    "measure_loudness_pcm",
    "playback_gain_db",
]

# Spotify's default ("normal") playback level and its true-peak headroom rule.
DEFAULT_TARGET_LUFS = -14.0
DEFAULT_CEILING_DBTP = -1.0
# BS.1770's absolute gate: blocks quieter than this never count, and ffmpeg
# reports exactly this value when no block passed it.
ABSOLUTE_GATE_LUFS = -70.0

_DEFAULT_TIMEOUT_S = 300.0
_SUMMARY_HEADER = re.compile(r"\[Parsed_ebur128_\d+ @ [^\]]*\] Summary:")
_NUMBER = r"(-?inf|nan|-?\d+(?:\.\d+)?)"
# Each summary value sits under its own section heading; anchoring on the
# heading keeps the two "Peak:" lines (sample, true) apart.
_SUMMARY_FIELDS: dict[str, re.Pattern[str]] = {
    "integrated": re.compile(r"Integrated loudness:\s*\n\s*I:\s*" + _NUMBER + r" LUFS"),
    "range": re.compile(r"Loudness range:\s*\n\s*LRA:\s*" + _NUMBER + r" LU\b"),
    "sample_peak": re.compile(r"Sample peak:\s*\n\s*Peak:\s*" + _NUMBER + r" dBFS"),
    "true_peak": re.compile(r"True peak:\s*\n\s*Peak:\s*" + _NUMBER + r" dBFS"),
}


class SilentAudioError(ValueError):
    """The audio has nothing loud enough to measure.

    Raised rather than returning ``-inf`` LUFS: an accepted track that is
    silent (or entirely below the -70 LUFS gate) is a defect upstream, and a
    ``-inf`` would not survive JSON or arithmetic further down the line.
    """


@dataclass(frozen=True)
class Loudness:
    """One track's measured loudness and the playback gain derived from it.

    ``target_lufs`` and ``true_peak_ceiling_dbtp`` are stored with the gain
    so a stored gain can be recomputed or audited after the policy changes.
    """

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    playback_gain_db: float
    target_lufs: float
    true_peak_ceiling_dbtp: float

    def to_json(self) -> dict[str, float]:
        """Plain dict, values rounded to 0.01 so stored files diff cleanly."""
        return {key: round(float(value), 2) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Loudness:
        """Rebuild from :meth:`to_json`; a missing field is an error, not a default."""
        missing = [name for name in cls.__dataclass_fields__ if name not in data]
        if missing:
            raise ValueError(f"loudness record is missing {', '.join(missing)}")
        values: dict[str, float] = {}
        for name in cls.__dataclass_fields__:
            try:
                values[name] = float(data[name])
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"loudness field {name!r} is not a number: {data[name]!r}"
                ) from exc
        return cls(**values)


def playback_gain_db(
    integrated_lufs: float,
    true_peak_dbtp: float,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
) -> float:
    """Gain (dB) a player applies so the track plays at ``target_lufs``.

    This mirrors Spotify's normalisation at playback, which never limits or
    compresses: a loud track is always turned down all the way to the
    target, but a quiet track is turned up only as far as its headroom
    allows, i.e. until its true peak reaches ``ceiling_dbtp``. Turning it up
    further would clip (or require a limiter). A quiet track whose peaks
    already exceed the ceiling is left alone (0 dB), never turned down.

    Audio with no gated loudness (``-inf``, or at/below the -70 LUFS absolute
    gate) gets 0 dB: there is no meaningful level to correct, and an
    unbounded boost of near-silence would only amplify noise.
    """
    _check_policy(target_lufs, ceiling_dbtp)
    if math.isnan(integrated_lufs) or math.isnan(true_peak_dbtp):
        raise ValueError(
            f"loudness values must not be NaN (integrated {integrated_lufs}, "
            f"true peak {true_peak_dbtp})"
        )
    if integrated_lufs <= ABSOLUTE_GATE_LUFS:
        return 0.0
    gain = target_lufs - integrated_lufs
    if gain <= 0.0:
        return gain
    headroom = ceiling_dbtp - true_peak_dbtp
    return max(0.0, min(gain, headroom))


def _check_policy(target_lufs: float, ceiling_dbtp: float) -> None:
    """Reject a bad target up front, before minutes of decoding are spent."""
    for name, value in (("target_lufs", target_lufs), ("ceiling_dbtp", ceiling_dbtp)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")


def measure_loudness(
    path: str | os.PathLike[str],
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    ffmpeg_path: str | None = None,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> Loudness:
    """Measure the first audio stream of ``path`` (any format ffmpeg decodes).

    Raises :class:`FFmpegError` naming the file when it is missing or not
    decodable audio, and :class:`SilentAudioError` when it holds no audio
    above the absolute gate.
    """
    _check_policy(target_lufs, ceiling_dbtp)
    source = Path(path)
    if not source.is_file():
        raise FFmpegError(f"cannot measure loudness of {str(source)!r}: no such file")
    input_args = ["-protocol_whitelist", "file", "-i", f"file:{source.resolve()}"]
    summary = _ebur128_summary(
        ffmpeg_binary(ffmpeg_path), input_args, None, what=repr(str(source)), timeout_s=timeout_s
    )
    return _loudness_from(summary, repr(str(source)), target_lufs, ceiling_dbtp)


def measure_loudness_pcm(
    pcm: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    ffmpeg_path: str | None = None,
    timeout_s: float = _DEFAULT_TIMEOUT_S,
) -> Loudness:
    """Measure float PCM ``(frames, channels)`` held in memory.

    The samples go to ffmpeg as raw float32 on stdin, so in-memory signals
    are measured by exactly the same meter as files, without a temp file.
    """
    _check_policy(target_lufs, ceiling_dbtp)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    frames = _as_frames(pcm)
    input_args = [
        "-protocol_whitelist", "pipe",
        "-f", "f32le", "-ar", str(int(sample_rate)), "-ac", str(frames.shape[1]),
        "-i", "pipe:0",
    ]  # fmt: skip
    what = f"in-memory PCM ({frames.shape[0]} frames x {frames.shape[1]} ch @ {sample_rate} Hz)"
    summary = _ebur128_summary(
        ffmpeg_binary(ffmpeg_path), input_args, frames.tobytes(), what=what, timeout_s=timeout_s
    )
    return _loudness_from(summary, what, target_lufs, ceiling_dbtp)


def _ebur128_command(binary: str, input_args: list[str]) -> list[str]:
    """The measuring command: decode, meter, discard.

    ``-loglevel info`` is required because the filter prints its summary at
    info level; ``-nostats`` and ``framelog=quiet`` keep everything else
    (progress lines, one line per 100 ms) out of stderr. ``dualmono`` makes
    a mono file measure as it sounds when played on both speakers, as
    EBU R128 recommends (+3 dB over a single-channel reading).
    """
    return [
        binary, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *input_args,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", "ebur128=peak=true+sample:framelog=quiet:dualmono=true",
        "-f", "null", "-",
    ]  # fmt: skip


def _ebur128_summary(
    binary: str, input_args: list[str], stdin: bytes | None, *, what: str, timeout_s: float
) -> dict[str, float]:
    """Run the meter and return the summary values from ffmpeg's stderr."""
    command = _ebur128_command(binary, input_args)
    _, stderr = run_ffmpeg(command, what=f"measure loudness of {what}", stdin=stdin, timeout_s=timeout_s)
    try:
        return _parse_summary(stderr)
    except ValueError as exc:
        raise FFmpegError(
            f"could not read the loudness of {what}: {exc}", command=command, stderr=stderr
        ) from exc


def _parse_summary(stderr: str) -> dict[str, float]:
    """Pull I, LRA, sample peak and true peak out of the ebur128 summary.

    Only the text after the *last* summary header is searched, so file tags
    echoed earlier in the log cannot be mistaken for measurements.
    """
    headers = list(_SUMMARY_HEADER.finditer(stderr))
    if not headers:
        raise ValueError("ffmpeg printed no ebur128 summary")
    block = stderr[headers[-1].end() :]
    values: dict[str, float] = {}
    for name, pattern in _SUMMARY_FIELDS.items():
        match = pattern.search(block)
        if match is None:
            raise ValueError(f"the ebur128 summary has no {name.replace('_', ' ')} value")
        values[name] = float(match.group(1))
    return values


def _loudness_from(
    summary: dict[str, float], what: str, target_lufs: float, ceiling_dbtp: float
) -> Loudness:
    """Turn summary values into a :class:`Loudness`, rejecting unmeasurable audio."""
    if summary["sample_peak"] == -math.inf:
        raise SilentAudioError(f"{what} is digital silence; there is no loudness to measure")
    if summary["integrated"] <= ABSOLUTE_GATE_LUFS:
        raise SilentAudioError(
            f"{what} has no 400 ms block above the {ABSOLUTE_GATE_LUFS:g} LUFS absolute gate "
            f"(sample peak {summary['sample_peak']:g} dBFS): too quiet or too short to measure"
        )
    gain = playback_gain_db(
        summary["integrated"],
        summary["true_peak"],
        target_lufs=target_lufs,
        ceiling_dbtp=ceiling_dbtp,
    )
    return Loudness(
        integrated_lufs=summary["integrated"],
        loudness_range_lu=summary["range"],
        true_peak_dbtp=summary["true_peak"],
        sample_peak_dbfs=summary["sample_peak"],
        playback_gain_db=gain,
        target_lufs=float(target_lufs),
        true_peak_ceiling_dbtp=float(ceiling_dbtp),
    )
