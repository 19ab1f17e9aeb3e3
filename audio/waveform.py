"""Waveform overviews for the player: BBC audiowaveform JSON v2, and a small PNG.

The web player draws its seek bar with peaks.js, which reads the JSON
format of BBC's ``audiowaveform`` tool. Producing that format here (instead
of shelling out to audiowaveform) keeps the platform free of another native
binary: the work is one vectorised min/max reduction over decoded PCM.

Format, version 2::

    {"version": 2, "channels": C, "sample_rate": R, "samples_per_pixel": S,
     "bits": 8 | 16, "length": L, "data": [...]}

``data`` holds, for each of the ``L`` pixels and within it for each channel,
the minimum then the maximum sample: ``[p0c0min, p0c0max, p0c1min, p0c1max,
p1c0min, ...]``, so ``len(data) == 2 * L * C``. Values are integers scaled
the way audiowaveform scales them: a float sample becomes a signed 16-bit
value, and 8-bit output keeps its high byte (``int16 >> 8``).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
from PIL import Image

from audio.pcm import as_frames

__all__ = [
    "DEFAULT_PIXELS",
    "WAVEFORM_VERSION",
    "render_png",
    "validate_waveform",
    "waveform_json_bytes",
    "waveform_peaks",
]

WAVEFORM_VERSION = 2
# A desktop seek bar is roughly 900 CSS px wide; at 2x device-pixel density
# that is 1800 device pixels, so one point per device pixel draws crisply
# without resampling, while 8-bit mono stays around 10 KB of JSON.
DEFAULT_PIXELS = 1800
_RANGES: dict[int, tuple[int, int]] = {8: (-128, 127), 16: (-32768, 32767)}
_REQUIRED_INT_KEYS = ("version", "channels", "sample_rate", "samples_per_pixel", "bits", "length")
_MAX_REPORTED = 3
_DEFAULT_COLOR = (255, 102, 0, 255)

Color = tuple[int, int, int] | tuple[int, int, int, int]


def waveform_peaks(
    pcm: np.ndarray,
    sample_rate: int,
    *,
    pixels: int = DEFAULT_PIXELS,
    bits: int = 8,
    mono: bool = True,
    min_samples_per_pixel: int = 64,
) -> dict[str, Any]:
    """Min/max peaks of float PCM ``(frames, channels)`` as an audiowaveform v2 document.

    ``samples_per_pixel`` is chosen so the whole track fits in about
    ``pixels`` points whatever its length (the player scales that to its
    seek bar); ``min_samples_per_pixel`` stops a short clip from producing
    a document more detailed than any screen can show. The last pixel
    covers whatever remains, so ``length == ceil(frames / samples_per_pixel)``.
    ``mono`` averages the channels, which is what a single seek bar shows.
    """
    frames = _as_pcm(pcm)
    _check_peaks_args(sample_rate, pixels, bits, min_samples_per_pixel)
    if mono and frames.shape[1] > 1:
        frames = frames.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    n_frames, n_channels = frames.shape
    spp = max(int(min_samples_per_pixel), math.ceil(n_frames / pixels))
    length = math.ceil(n_frames / spp)
    # Repeating the last sample fills the final pixel without moving its
    # min or max, unlike zero padding, which would invent a zero crossing.
    padded = np.pad(frames, ((0, length * spp - n_frames), (0, 0)), mode="edge")
    blocks = padded.reshape(length, spp, n_channels)
    lows = _to_int(blocks.min(axis=1), bits)
    highs = _to_int(blocks.max(axis=1), bits)
    data = np.stack([lows, highs], axis=-1).reshape(-1)  # pixel, channel, (min, max)
    return {
        "version": WAVEFORM_VERSION,
        "channels": int(n_channels),
        "sample_rate": int(sample_rate),
        "samples_per_pixel": int(spp),
        "bits": int(bits),
        "length": int(length),
        "data": data.tolist(),
    }


def _as_pcm(pcm: np.ndarray) -> np.ndarray:
    """Check PCM shape and values; return float32 ``(frames, channels)``."""
    return as_frames(pcm)


def _check_peaks_args(sample_rate: int, pixels: int, bits: int, min_spp: int) -> None:
    """Fail on nonsense arguments with the argument named."""
    if bits not in _RANGES:
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if int(pixels) != pixels or pixels < 1:
        raise ValueError(f"pixels must be a positive integer, got {pixels!r}")
    if int(min_spp) != min_spp or min_spp < 1:
        raise ValueError(f"min_samples_per_pixel must be a positive integer, got {min_spp!r}")


def _to_int(samples: np.ndarray, bits: int) -> np.ndarray:
    """Scale float samples as audiowaveform does: to int16, then the high byte for 8 bits.

    Samples beyond full scale are clipped, as a 16-bit decoder would.
    """
    as16 = np.clip(np.round(samples.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int32)
    return as16 >> 8 if bits == 8 else as16


def validate_waveform(data: Any) -> list[str]:
    """Every problem with an audiowaveform v2 document; an empty list means valid.

    Problems are collected rather than raised so an asset check can report
    all of them at once.
    """
    if not isinstance(data, dict):
        return [f"waveform must be a JSON object, got {type(data).__name__}"]
    problems = [f"missing key {key!r}" for key in (*_REQUIRED_INT_KEYS, "data") if key not in data]
    for key in _REQUIRED_INT_KEYS:
        if key in data and not _is_int(data[key]):
            problems.append(f"{key!r} must be an integer, got {data[key]!r}")
    if problems:
        return problems
    problems += _header_problems(data)
    if problems:
        return problems
    return _data_problems(data["data"], data["length"], data["channels"], data["bits"])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _header_problems(doc: dict[str, Any]) -> list[str]:
    """Header fields out of their allowed values."""
    problems = []
    if doc["version"] != WAVEFORM_VERSION:
        problems.append(f"version must be {WAVEFORM_VERSION}, got {doc['version']}")
    if doc["bits"] not in _RANGES:
        problems.append(f"bits must be 8 or 16, got {doc['bits']}")
    for key in ("channels", "sample_rate", "samples_per_pixel"):
        if doc[key] < 1:
            problems.append(f"{key!r} must be positive, got {doc[key]}")
    if doc["length"] < 0:
        problems.append(f"'length' must not be negative, got {doc['length']}")
    if not isinstance(doc["data"], list):
        problems.append(f"'data' must be a list, got {type(doc['data']).__name__}")
    return problems


def _data_problems(values: list[Any], length: int, channels: int, bits: int) -> list[str]:
    """Count, type, range and min <= max checks on the data array."""
    expected = 2 * length * channels
    if len(values) != expected:
        count = f"'data' has {len(values)} values"
        return [f"{count} but length {length} x {channels} channel(s) needs {expected}"]
    bad_types = [i for i, v in enumerate(values) if not _is_int(v)]
    if bad_types:
        return [f"'data' values must be integers; not at index {_indices(bad_types)}"]
    problems = []
    array = np.asarray(values, dtype=np.int64)
    low, high = _RANGES[bits]
    outside = np.flatnonzero((array < low) | (array > high))
    if outside.size:
        problems.append(
            f"'data' values outside {low}..{high} for {bits} bits at index {_indices(outside)}"
        )
    pairs = array.reshape(-1, 2)
    inverted = np.flatnonzero(pairs[:, 0] > pairs[:, 1])
    if inverted.size:
        problems.append(f"min > max in 'data' at pair index {_indices(inverted)}")
    return problems


def _indices(found: Any) -> str:
    """The first few offending indices, and how many more, for a readable message."""
    found = [int(i) for i in found]
    shown = ", ".join(str(i) for i in found[:_MAX_REPORTED])
    rest = len(found) - _MAX_REPORTED
    return shown + (f" (and {rest} more)" if rest > 0 else "")


def _require_valid(waveform: Any) -> None:
    problems = validate_waveform(waveform)
    if problems:
        raise ValueError("invalid waveform document: " + "; ".join(problems))


def waveform_json_bytes(waveform: dict[str, Any]) -> bytes:
    """Compact, deterministic JSON so equal waveforms give equal bytes (and hashes).

    The document is validated first: writing a broken one would only fail
    later, in a listener's browser.
    """
    _require_valid(waveform)
    text = json.dumps(waveform, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


def render_png(
    waveform: dict[str, Any],
    *,
    width: int = 600,
    height: int = 80,
    color: Color = _DEFAULT_COLOR,
    background: Color | None = None,
) -> bytes:
    """A small PNG of the waveform for places without a JavaScript player.

    Each column is a bar mirrored around the centre line, as tall as the
    loudest excursion (either sign) among the pixels and channels it covers,
    measured against full scale so quiet masters look quiet. ``background``
    ``None`` is transparent. The PNG carries no metadata, so the same
    waveform always gives the same bytes.
    """
    _require_valid(waveform)
    if not (_is_int(width) and _is_int(height)) or width < 1 or height < 1:
        raise ValueError(f"width and height must be positive integers, got {width!r}x{height!r}")
    ink = _rgba(color, "color")
    paper = (0, 0, 0, 0) if background is None else _rgba(background, "background")
    amplitude = _column_amplitudes(waveform, width)
    half = amplitude * (height / 2.0)
    top = np.floor(height / 2.0 - half).astype(np.int64)
    bottom = np.maximum(np.ceil(height / 2.0 + half).astype(np.int64), top + 1)
    rows = np.arange(height)[:, None]
    mask = (rows >= top[None, :]) & (rows < bottom[None, :])
    pixels = np.where(mask[:, :, None], np.array(ink, np.uint8), np.array(paper, np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _rgba(value: Any, name: str) -> tuple[int, int, int, int]:
    """Accept an RGB or RGBA tuple of 0..255 integers."""
    if (
        not isinstance(value, (tuple, list))
        or len(value) not in (3, 4)
        or not all(_is_int(c) and 0 <= c <= 255 for c in value)
    ):
        raise ValueError(f"{name} must be an RGB or RGBA tuple of integers 0..255, got {value!r}")
    return (*value, 255) if len(value) == 3 else tuple(value)  # type: ignore[return-value]


def _column_amplitudes(waveform: dict[str, Any], width: int) -> np.ndarray:
    """Per-column peak amplitude in 0..1, resampling ``length`` pixels to ``width``.

    Each column takes the extreme of the source pixels it spans (or repeats
    one when the image is wider than the data), so a short transient is
    never averaged away.
    """
    length, channels = waveform["length"], waveform["channels"]
    if length == 0:
        return np.zeros(width)
    scale = -float(_RANGES[waveform["bits"]][0])
    values = np.asarray(waveform["data"], dtype=np.float64).reshape(length, channels * 2)
    peaks = np.abs(values).max(axis=1) / scale
    starts = (np.arange(width, dtype=np.int64) * length) // width
    return np.clip(np.maximum.reduceat(peaks, starts), 0.0, 1.0)
