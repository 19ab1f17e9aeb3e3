"""The platform's rules for an uploaded audio file, applied to what :mod:`audio.inspect` saw.

Each rule maps to one stable :class:`~audio.reasons.Reason`, so the reasons a
file is refused can be compared with what a test or a sample world expects.
Rules run in order of dependency: nothing can be said about the loudness of
an empty file, nor about the sample rate of a file no decoder understands, so
a failure of identity (empty, undecodable, a format we do not take) stops the
checks; every later rule is independent of the others and all are reported,
so a sender fixes everything in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audio.delivery.model import Problem
from audio.inspect import MIN_DBFS, AudioFacts, inspect_audio
from audio.reasons import Reason

__all__ = ["AudioBounds", "validate_audio", "judge", "detected_format", "extension_family"]


@dataclass(frozen=True)
class AudioBounds:
    """What the platform accepts.

    ``min_sample_rate`` is 22.05 kHz, not the telephone-grade 8 kHz: below it
    the audio holds nothing above 11 kHz, which no music master does, and the
    platform's analysis (tempo, key, previews) runs at 22.05 kHz, so anything
    lower would have to be invented by upsampling. ``max_clipped_ratio`` is a
    share of samples at full scale (see :data:`audio.inspect.CLIP_LEVEL`): a
    loud but healthy master touches full scale on isolated peaks, far below 1 %.
    """

    min_duration_s: float = 30.0
    max_duration_s: float = 1200.0
    min_sample_rate: int = 22050
    max_sample_rate: int = 192000
    max_channels: int = 2
    silence_peak_dbfs: float = -60.0
    max_clipped_ratio: float = 0.01
    allowed_formats: tuple[str, ...] = ("wav", "flac", "aiff", "mp3", "aac", "m4a", "ogg")
    # truncation: decoded length short of the declared one by more than
    # min(max_shortfall_s, max_shortfall_ratio * declared) (never under 0.1 s)
    max_shortfall_s: float = 1.0
    max_shortfall_ratio: float = 0.02
    # error lines ffmpeg may log for a file that is otherwise whole: a cut-off
    # last frame logs up to three; damage inside the stream logs one or two per
    # lost packet, so more than this means audio is missing from the middle
    max_decoder_errors: int = 3


# ffmpeg demuxer name -> format name, and the codecs each accepted format may carry.
_CONTAINERS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "aiff": "aiff",
    "mp3": "mp3",
    "aac": "aac",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
    "ogg": "ogg",
    "asf": "wma",
    "matroska,webm": "webm",
}
_CODECS: dict[str, tuple[str, ...]] = {
    "wav": ("pcm_",),
    "aiff": ("pcm_",),
    "flac": ("flac",),
    "mp3": ("mp3",),
    "aac": ("aac",),
    "m4a": ("aac", "alac"),
    "ogg": ("vorbis", "opus", "flac"),
}
# Formats recognised from magic bytes alone when no decoder takes them.
_SIGNATURE_ONLY = {"midi": "midi"}
# What a file name promises; formats in one family are interchangeable names.
_EXTENSIONS: dict[str, str] = {
    ".wav": "wav", ".wave": "wav",
    ".flac": "flac",
    ".aif": "aiff", ".aiff": "aiff", ".aifc": "aiff",
    ".mp3": "mp3",
    ".m4a": "aac", ".aac": "aac", ".mp4": "aac",
    ".ogg": "ogg", ".oga": "ogg",
}  # fmt: skip
_FAMILY = {"m4a": "aac"}


def detected_format(facts: AudioFacts) -> str | None:
    """The format name of what the file really holds, e.g. "flac", "m4a", "wma", "ogg/speex".

    A container holding a codec it is not accepted with is named
    "container/codec" so it can never pass as the plain container.
    """
    if facts.container is None:
        return _SIGNATURE_ONLY.get(facts.signature or "")
    name = _CONTAINERS.get(facts.container, facts.container)
    codecs = _CODECS.get(name)
    if codecs and facts.codec and not facts.codec.startswith(codecs):
        return f"{name}/{facts.codec}"
    return name


def extension_family(declared_name: str) -> str | None:
    """The format family a file name promises, or None for an unknown extension."""
    return _EXTENSIONS.get(Path(declared_name).suffix.lower())


def validate_audio(
    path: Path,
    declared_name: str,
    bounds: AudioBounds = AudioBounds(),
    *,
    ffmpeg_path: str | None = None,
    timeout_s: float = 120,
) -> tuple[AudioFacts | None, list[Problem]]:
    """Inspect ``path`` and return its facts and every rule it breaks (empty list: accepted).

    ``declared_name`` is the name the sender gave the file (its extension is
    what is checked); it also names the file in messages and locates each
    problem. Facts are ``None`` only when there is no file to inspect.
    """
    path = Path(path)
    if not path.exists():
        return None, [_problem(Reason.AUDIO_MISSING, declared_name, file=declared_name)]
    if not path.is_file():
        detail = "it is a directory, not a file" if path.is_dir() else "it is not a regular file"
        return None, [_problem(Reason.AUDIO_UNDECODABLE, declared_name, file=declared_name,
                               detail=detail)]  # fmt: skip
    facts = inspect_audio(path, ffmpeg_path=ffmpeg_path, timeout_s=timeout_s)
    return facts, judge(facts, declared_name, bounds)


def judge(
    facts: AudioFacts, declared_name: str, bounds: AudioBounds = AudioBounds()
) -> list[Problem]:
    """The rules ``facts`` break, identity first (see the module docstring)."""
    identity = _identity_problems(facts, declared_name, bounds)
    if identity:
        return identity
    problems = _extension_problems(facts, declared_name)
    problems += _truncation_problems(facts, declared_name, bounds)
    problems += _layout_problems(facts, declared_name, bounds)
    problems += _duration_problems(facts, declared_name, bounds)
    problems += _level_problems(facts, declared_name, bounds)
    return problems


def _problem(reason: Reason, name: str, note: str | None = None, **details: object) -> Problem:
    message = reason.message(**{k: v for k, v in details.items() if v is not None})
    return Problem(reason, f"{message} ({note})" if note else message, name)


def _identity_problems(facts: AudioFacts, name: str, bounds: AudioBounds) -> list[Problem]:
    """Empty, not audio, or audio in a format the platform does not take: nothing else applies."""
    if facts.size_bytes == 0:
        return [_problem(Reason.AUDIO_EMPTY, name, file=name)]
    fmt = detected_format(facts)
    if not facts.decodable:
        # a known audio format we do not take need not decode to be refused as such
        recognised = facts.codec is not None or facts.container is None
        if recognised and fmt is not None and fmt not in bounds.allowed_formats:
            return [_not_allowed(fmt, name, bounds)]
        return [_problem(Reason.AUDIO_UNDECODABLE, name, file=name, detail=facts.failure)]
    if facts.weak_detection and facts.decoder_errors:
        detail = (
            f"the bytes only faintly resemble {facts.container} and the decoder "
            f"failed {facts.decoder_errors} times"
        )
        return [_problem(Reason.AUDIO_UNDECODABLE, name, file=name, detail=detail)]
    if fmt not in bounds.allowed_formats:
        return [_not_allowed(fmt or "unknown", name, bounds)]
    return []


def _not_allowed(fmt: str, name: str, bounds: AudioBounds) -> Problem:
    allowed = ", ".join(bounds.allowed_formats)
    return _problem(Reason.AUDIO_FORMAT_NOT_ALLOWED, name, format=fmt, file=name, allowed=allowed)


def _extension_problems(facts: AudioFacts, name: str) -> list[Problem]:
    """The name must promise the format the bytes hold: players and stores trust extensions."""
    fmt = detected_format(facts) or ""
    promised = extension_family(name)
    if promised is not None and promised == _FAMILY.get(fmt, fmt):
        return []
    extension = Path(name).suffix or "(no extension)"
    return [_problem(Reason.AUDIO_WRONG_EXTENSION, name, file=name, actual=fmt,
                     extension=extension)]  # fmt: skip


def _truncation_problems(facts: AudioFacts, name: str, bounds: AudioBounds) -> list[Problem]:
    """Audio missing from the end (short of the header's length) or from the middle (errors)."""
    declared, decoded = facts.declared_duration_s, facts.decoded_duration_s
    details = {"file": name, "decoded_s": _seconds(decoded), "declared_s": _seconds(declared)}
    if declared is not None and decoded is not None:
        allowed = max(0.1, min(bounds.max_shortfall_s, bounds.max_shortfall_ratio * declared))
        if declared - decoded > allowed:
            return [_problem(Reason.AUDIO_TRUNCATED, name, **details)]
    if facts.decoder_errors > bounds.max_decoder_errors:
        note = f"the decoder reported {facts.decoder_errors} errors mid-stream"
        return [_problem(Reason.AUDIO_TRUNCATED, name, note, **details)]
    return []


def _layout_problems(facts: AudioFacts, name: str, bounds: AudioBounds) -> list[Problem]:
    problems = []
    rate = facts.sample_rate
    if rate is not None and not bounds.min_sample_rate <= rate <= bounds.max_sample_rate:
        problems.append(_problem(Reason.AUDIO_SAMPLE_RATE, name, sample_rate=rate, file=name,
                                 min_hz=bounds.min_sample_rate,
                                 max_hz=bounds.max_sample_rate))  # fmt: skip
    if facts.channels is not None and facts.channels > bounds.max_channels:
        problems.append(_problem(Reason.AUDIO_CHANNELS, name, file=name, channels=facts.channels,
                                 max_channels=bounds.max_channels))  # fmt: skip
    return problems


def _duration_problems(facts: AudioFacts, name: str, bounds: AudioBounds) -> list[Problem]:
    """Judged on what decodes, not on what the header claims: that is what listeners get."""
    seconds = facts.decoded_duration_s
    if seconds is None:
        return []
    if seconds < bounds.min_duration_s:
        return [_problem(Reason.AUDIO_TOO_SHORT, name, file=name, duration_s=_seconds(seconds),
                         min_s=_seconds(bounds.min_duration_s))]  # fmt: skip
    if seconds > bounds.max_duration_s:
        return [_problem(Reason.AUDIO_TOO_LONG, name, file=name, duration_s=_seconds(seconds),
                         max_s=_seconds(bounds.max_duration_s))]  # fmt: skip
    return []


def _level_problems(facts: AudioFacts, name: str, bounds: AudioBounds) -> list[Problem]:
    """Silent, else clipped: a silent file has no peaks to clip."""
    if facts.peak_dbfs is None or facts.clipped_ratio is None:
        return []
    if facts.peak_dbfs < bounds.silence_peak_dbfs:
        peak = "-inf" if facts.peak_dbfs <= MIN_DBFS else f"{facts.peak_dbfs:.1f}"
        return [_problem(Reason.AUDIO_SILENT, name, file=name, peak_dbfs=peak)]
    if facts.clipped_ratio > bounds.max_clipped_ratio:
        return [_problem(Reason.AUDIO_CLIPPING, name, file=name,
                         clipped_pct=f"{100 * facts.clipped_ratio:.1f}")]  # fmt: skip
    return []


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"
