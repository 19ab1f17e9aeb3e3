"""Pick and cut the 30-second preview clip of a track.

A preview should sound like the song people remember: the chorus, which in
popular music is both the loudest, densest part and the part that comes back
most often. The picker therefore scores every half second of the track for
loudness and for how much of the track replays it, slides a window over the
combined score, and moves the start onto the section boundary next to it so
the clip begins on a downbeat instead of mid-phrase.

Analysis is plain numpy (one STFT, a chroma and band fold, a self-similarity
matrix), about a quarter of a second for a four-minute track: importing
librosa's feature module alone costs seconds of numba start-up.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass
from numbers import Integral
from pathlib import Path

import numpy as np

from audio.ffmpeg import FFmpegError, _run, ffmpeg_binary, probe_duration_s
from audio.pcm import as_frames

__all__ = ["PreviewWindow", "choose_preview_window", "encode_preview"]

PREVIEW_LENGTH_S = 30.0
PREVIEW_SAMPLE_RATE = 44100
_LENGTH_TOLERANCE_S = 0.01  # the MP4 edit list makes the decoded length exact

# Analysis grids.
_FRAME_HOP_S = 0.1  # STFT hop
_BLOCK_FRAMES = 5  # frames per scoring block (0.5 s)
_FFT_SECONDS = 0.186  # 8192 samples at 44.1 kHz: semitone resolution above ~100 Hz
_FFT_CHUNK = 32
_FINE_HOP_S = 0.01  # level envelope used to place the cut
_SILENCE_DB = -100.0

# Features.
_CHROMA_FMIN_HZ = 65.0
_CHROMA_FMAX_HZ = 4200.0
_BANDS_FMIN_HZ = 60.0
_BANDS_FMAX_HZ = 16000.0
_N_BANDS = 12

# Repetition.
_EMBED_TAPS = 8  # 4 s of context per frame: a passage, not a single chord
_MATCH_THRESHOLD = 0.7  # cosine similarity below this counts as different music
_NEIGHBOURHOOD_S = 6.0  # resembling its own surroundings is sustain, not repetition
_MAX_SSM_FRAMES = 3000  # full 0.1 s resolution up to 5 minutes, coarser beyond
_SSM_CHUNK = 1024

# Choosing the window.
_ENERGY_WEIGHT = 0.5
_EDGE_S = 3.0  # keep clear of fade-ins and fade-outs
_BOUNDARY_SEARCH_S = 8.0  # how far a start may move to open on a section boundary
_BOUNDARY_TOLERANCE = 0.03  # ...and how much mean score (0..1) that may cost
_SECTION_STEP_HALF_S = 2.0  # level compared either side of a candidate section start
_MIN_RISE_DB = 1.0  # smaller steps are groove, not a section coming in
_STEP_HALF_S = 1.0  # sharper comparison used to place the cut itself
_SNAP_RANGE_S = 0.5


@dataclass(frozen=True)
class PreviewWindow:
    """Where the preview sits in the source and why it was chosen.

    ``score`` is the mean combined loudness/repetition score (0..1) over the
    window, kept so a catalogue can spot tracks whose preview is a weak pick.
    """

    start_s: float
    duration_s: float
    score: float
    method: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ValueError(f"start_s must be a finite number >= 0, got {self.start_s}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s must be a finite number > 0, got {self.duration_s}")

    def to_json(self) -> dict[str, float | str]:
        """Plain dict for manifests and API responses (times rounded to the millisecond)."""
        data = asdict(self)
        data["start_s"] = round(self.start_s, 3)
        data["duration_s"] = round(self.duration_s, 3)
        data["score"] = round(self.score, 4)
        return data


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Grid:
    """Sample-domain sizes of the analysis grids for one sample rate."""

    sample_rate: int
    hop: int
    n_fft: int
    fine_hop: int

    @property
    def block_s(self) -> float:
        return _BLOCK_FRAMES * self.hop / self.sample_rate

    @classmethod
    def for_rate(cls, sample_rate: int) -> _Grid:
        hop = max(1, round(_FRAME_HOP_S * sample_rate))
        n_fft = 1 << max(8, round(math.log2(_FFT_SECONDS * sample_rate)))
        fine_hop = max(1, round(_FINE_HOP_S * sample_rate))
        return cls(sample_rate, hop, n_fft, fine_hop)


def _mono(pcm: np.ndarray) -> np.ndarray:
    """Validated mono mix in float32; the preview is about content, not stereo image."""
    array = as_frames(pcm)
    # Column adds: numpy's mean over a short last axis is several times slower.
    mono = array[:, 0].astype(np.float32, copy=True)
    for channel in range(1, array.shape[1]):
        mono += array[:, channel]
    if array.shape[1] > 1:
        mono *= np.float32(1.0 / array.shape[1])
    return mono


def _power_frames(mono: np.ndarray, grid: _Grid, n_frames: int) -> np.ndarray:
    """Hann-windowed power spectra centred on each hop, shape (frames, bins).

    Done in small chunks: a long track never materialises all frames at once,
    and chunks that stay in cache are measurably faster than big ones.
    """
    half = grid.n_fft // 2
    offset = half - grid.hop // 2  # frame j is centred on the middle of hop j
    padded = np.pad(mono, (offset, grid.n_fft))
    window = np.hanning(grid.n_fft).astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(padded, grid.n_fft)[:: grid.hop][:n_frames]
    out = np.empty((n_frames, half + 1), dtype=np.float32)
    for lo in range(0, n_frames, _FFT_CHUNK):
        spectrum = np.fft.rfft(view[lo : lo + _FFT_CHUNK] * window, axis=1)
        out[lo : lo + _FFT_CHUNK] = spectrum.real**2 + spectrum.imag**2
    return out


def _chroma_matrix(grid: _Grid) -> np.ndarray:
    """Fold FFT bins onto the 12 pitch classes with soft (Gaussian) weights."""
    freqs = np.fft.rfftfreq(grid.n_fft, 1.0 / grid.sample_rate)
    used = (freqs >= _CHROMA_FMIN_HZ) & (freqs <= _CHROMA_FMAX_HZ)
    pitch = np.zeros_like(freqs)
    pitch[used] = 69.0 + 12.0 * np.log2(freqs[used] / 440.0)
    distance = (pitch[None, :] - np.arange(12)[:, None] + 6.0) % 12.0 - 6.0
    weights = np.exp(-0.5 * (distance / 0.4) ** 2) * used[None, :]
    return weights.astype(np.float32)


def _band_matrix(grid: _Grid) -> np.ndarray:
    """Sum FFT bins into log-spaced bands: a coarse picture of the arrangement."""
    freqs = np.fft.rfftfreq(grid.n_fft, 1.0 / grid.sample_rate)
    top = min(_BANDS_FMAX_HZ, 0.95 * grid.sample_rate / 2.0)
    edges = np.geomspace(_BANDS_FMIN_HZ, top, _N_BANDS + 1)
    bands = (freqs[None, :] >= edges[:-1, None]) & (freqs[None, :] < edges[1:, None])
    return bands.astype(np.float32)


def _k_weights(grid: _Grid) -> np.ndarray:
    """Squared magnitude of a K-weighting-like curve (BS.1770: bass cut, +4 dB treble).

    Loudness should follow what listeners hear, so a sub-bass drop does not
    outrank a chorus where the vocals and cymbals come in.
    """
    f = np.fft.rfftfreq(grid.n_fft, 1.0 / grid.sample_rate)
    high_pass = f**4 / (f**4 + 38.0**4)
    shelf = 1.0 + (10.0 ** (4.0 / 10.0) - 1.0) * f**2 / (f**2 + 1500.0**2)
    return (high_pass * shelf).astype(np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def _descriptors(power: np.ndarray, grid: _Grid) -> np.ndarray:
    """Per-frame harmony (chroma) plus arrangement (band shape), each centred and unit length.

    Chroma alone cannot tell a chorus from an intro over the same chords;
    the band shape (drums in or out, a lead on top) can. Centring on the
    track's average removes what every frame shares (the key, the mix), so
    similarity reflects what actually changes between sections.
    """
    chroma = _unit_rows(np.sqrt(np.maximum(power @ _chroma_matrix(grid).T, 0.0)))
    chroma = _unit_rows(chroma - chroma.mean(axis=0))
    bands = np.log10(power @ _band_matrix(grid).T + 1e-10)
    bands -= bands.mean(axis=1, keepdims=True)  # spectral shape, not level
    bands = _unit_rows(bands - bands.mean(axis=0))
    return np.concatenate([chroma, bands], axis=1)


def _repetition(descriptors: np.ndarray, frame_s: float) -> np.ndarray:
    """Per frame: how much of the rest of the track replays the few seconds around it.

    Each frame is described by its neighbourhood (taps every half second over
    4 s), so a match means a whole passage recurs, not one chord. The score
    is a soft count of close matches away from the frame's own surroundings:
    a chorus heard three times beats a verse heard twice, and a held chord
    that only resembles itself scores nothing. Long tracks are analysed on a
    coarser grid so time and memory stay bounded.
    """
    n = len(descriptors)
    offsets = (np.arange(_EMBED_TAPS) - _EMBED_TAPS // 2) * _BLOCK_FRAMES
    pad = int(np.abs(offsets).max())
    padded = np.pad(descriptors, ((pad, pad), (0, 0)), mode="edge")
    taps = [padded[pad + o : pad + o + n] for o in offsets]
    embedded = _unit_rows(np.concatenate(taps, axis=1)).astype(np.float32)
    stride = max(1, math.ceil(n / _MAX_SSM_FRAMES))
    points = embedded[::stride]
    where = np.arange(0, n, stride)
    near = _NEIGHBOURHOOD_S / frame_s
    counts = np.empty(len(points))
    for lo in range(0, len(points), _SSM_CHUNK):
        sim = points[lo : lo + _SSM_CHUNK] @ points.T
        close = np.clip((sim - _MATCH_THRESHOLD) / (1.0 - _MATCH_THRESHOLD), 0.0, 1.0) ** 2
        close[np.abs(where[lo : lo + _SSM_CHUNK, None] - where[None, :]) < near] = 0.0
        counts[lo : lo + _SSM_CHUNK] = close.sum(axis=1) / len(points)
    return np.repeat(counts, stride)[:n]


@dataclass(frozen=True)
class _Analysis:
    """What the picker needs: per-block scores and per-10 ms level steps."""

    loud_db: np.ndarray  # per block, K-weighted
    repetition: np.ndarray  # per block, soft count of recurrences
    steps: np.ndarray  # per 10 ms envelope edge: level rise in dB over 1 s (the cut)
    coarse_steps: np.ndarray  # the same over 2 s: which edges start a section
    block_s: float
    step_s: float


def _analyse(mono: np.ndarray, grid: _Grid) -> _Analysis:
    """One STFT pass feeding loudness, repetition and section-boundary curves."""
    n_blocks = len(mono) // (grid.hop * _BLOCK_FRAMES)
    power = _power_frames(mono, grid, n_blocks * _BLOCK_FRAMES)
    loud = power @ _k_weights(grid)
    block_loud = loud.reshape(n_blocks, _BLOCK_FRAMES).mean(axis=1)
    loud_db = 10.0 * np.log10(np.maximum(block_loud / (grid.n_fft * grid.n_fft / 8.0), 1e-10))
    repeated = _repetition(_descriptors(power, grid), grid.hop / grid.sample_rate)
    step_s = grid.fine_hop / grid.sample_rate
    level = _level_envelope_db(mono, grid)
    return _Analysis(
        loud_db=np.maximum(loud_db, _SILENCE_DB),
        repetition=repeated.reshape(n_blocks, _BLOCK_FRAMES).mean(axis=1),
        steps=_level_steps(level, max(1, round(_STEP_HALF_S / step_s))),
        coarse_steps=_level_steps(level, max(1, round(_SECTION_STEP_HALF_S / step_s))),
        block_s=grid.block_s,
        step_s=step_s,
    )


def _level_envelope_db(mono: np.ndarray, grid: _Grid) -> np.ndarray:
    """10 ms energy envelope in dB (floored 60 dB under the peak)."""
    hop = grid.fine_hop
    n = len(mono) // hop
    frames = mono[: n * hop].reshape(n, hop)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop
    level = 10.0 * np.log10(energy + 1e-12)
    return np.maximum(level, level.max() - 60.0)


def _level_steps(level_db: np.ndarray, half: int) -> np.ndarray:
    """dB rise at each envelope edge: mean of the next ``half`` frames minus the previous.

    A new section arrives as a step in level (drums, bass or lead coming
    in), and on a 10 ms envelope the step is located to a few milliseconds.
    Index ``j`` is the edge before frame ``j``; edges too near the ends get 0.
    """
    n = len(level_db)
    steps = np.zeros(n + 1)
    if n < 2 * half:
        return steps
    csum = np.concatenate([[0.0], np.cumsum(level_db)])
    edges = np.arange(half, n - half + 1)
    steps[edges] = (csum[edges + half] - 2.0 * csum[edges] + csum[edges - half]) / half
    return steps


def _normalise(values: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Map to 0..1 by robust percentiles of the usable part (fades excluded)."""
    ref = values[usable] if usable.any() else values
    lo, hi = np.percentile(ref, [5.0, 98.0])
    if hi - lo < 1e-9:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def _rise_near(steps: np.ndarray, step_s: float, times_s: np.ndarray, reach_s: float) -> np.ndarray:
    """Largest level rise (dB) within ``reach_s`` of each time."""
    reach = max(1, round(reach_s / step_s))
    padded = np.pad(steps, (reach, reach))
    centres = np.clip(np.round(times_s / step_s).astype(int), 0, len(steps) - 1) + reach
    return np.max([padded[centres + k] for k in range(-reach, reach + 1)], axis=0)


def _section_start(
    means: np.ndarray, allowed: np.ndarray, block_s: float, analysis: _Analysis
) -> int:
    """Best window start, moved onto a section boundary when that costs next to nothing.

    Inside a chorus longer than the preview many starts score the same, and
    a start picked from that plateau usually lands mid-phrase. Among starts
    within a few seconds of the best and scoring within a small tolerance,
    take the one where the level steps up the most (the section coming in);
    without a clear step, keep the best-scoring start.
    """
    scores = np.where(allowed, means, -np.inf)
    best = int(np.argmax(scores))
    reach = round(_BOUNDARY_SEARCH_S / block_s)
    lo, hi = max(best - reach, 0), min(best + reach, len(means) - 1)
    near = np.arange(lo, hi + 1)
    near = near[scores[near] >= scores[best] - _BOUNDARY_TOLERANCE]
    rises = _rise_near(analysis.coarse_steps, analysis.step_s, near * block_s, block_s / 2.0)
    if rises.max() < _MIN_RISE_DB:
        return best
    return int(near[np.argmax(rises)])


def _window_means(score: np.ndarray, width: int) -> np.ndarray:
    """Mean of ``score`` over every run of ``width`` consecutive blocks."""
    csum = np.concatenate([[0.0], np.cumsum(score, dtype=np.float64)])
    return (csum[width:] - csum[:-width]) / width


def _best_index(curve: np.ndarray, step_s: float, lo_s: float, hi_s: float) -> int | None:
    """Index of the maximum of ``curve`` among points whose time is in [lo_s, hi_s]."""
    a = max(math.ceil(lo_s / step_s - 1e-9), 0)
    b = min(math.floor(hi_s / step_s + 1e-9), len(curve) - 1)
    if b < a:
        return None
    return a + int(np.argmax(curve[a : b + 1]))


def _snap_start(start_s: float, lo_s: float, hi_s: float, analysis: _Analysis) -> float:
    """Move the start onto the sharpest level rise within a second of it.

    The window was already chosen to open near a section start; this puts
    the cut on the exact edge (the downbeat where the section comes in), so
    the clip does not open a few notes late or on the previous bar's tail.
    """
    index = _best_index(
        analysis.steps,
        analysis.step_s,
        max(start_s - _SNAP_RANGE_S, lo_s),
        min(start_s + _SNAP_RANGE_S, hi_s),
    )
    if index is None or analysis.steps[index] <= 0.0:
        return start_s
    return index * analysis.step_s


def choose_preview_window(
    pcm: np.ndarray, sample_rate: int, *, length_s: float = PREVIEW_LENGTH_S
) -> PreviewWindow:
    """Pick the most representative ``length_s`` of a track: its chorus.

    Every 0.5 s block gets a loudness score (K-weighted, in dB) and a
    repetition score: how much of the rest of the track replays the 4 s
    around it, judged on harmony (chroma) and arrangement (band shape) from
    a self-similarity matrix, ignoring the block's own neighbourhood. Both
    are scaled to 0..1 and averaged, and the window with the highest mean
    wins (cumulative sums, one pass). Loudness alone would pick a one-off
    climax or a drop; repetition alone would pick a recurring quiet riff;
    harmony alone cannot tell a chorus from an intro over the verse chords.
    Together they find the part that is both big and returns: the chorus.

    Inside a chorus longer than the preview many starts tie, so among starts
    within 8 s of the best that cost at most 0.03 of mean score, the one
    where the level steps up most (a section coming in) wins, and the cut is
    then placed on the exact edge of that step (10 ms envelope). The first
    and last 3 s are never used (fades). Tracks no longer than ``length_s``
    come back whole. Deterministic: no randomness, fixed-size FFTs.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not (math.isfinite(length_s) and length_s > 0):
        raise ValueError(f"length_s must be a positive number of seconds, got {length_s}")
    mono = _mono(pcm)
    duration_s = len(mono) / sample_rate
    if duration_s <= length_s:
        return PreviewWindow(0.0, duration_s, 1.0, "whole-track")

    grid = _Grid.for_rate(int(sample_rate))
    edge_s = min(_EDGE_S, (duration_s - length_s) / 2.0)
    lo_s, hi_s = edge_s, duration_s - edge_s - length_s  # allowed start range
    width = max(1, round(length_s / grid.block_s))
    if len(mono) // (grid.hop * _BLOCK_FRAMES) < width + 1:
        # Barely longer than the preview: nothing to choose, centre it.
        return PreviewWindow((duration_s - length_s) / 2.0, length_s, 0.0, "centred")

    analysis = _analyse(mono, grid)
    block_s = analysis.block_s
    times = np.arange(len(analysis.loud_db)) * block_s
    usable = (times >= edge_s) & (times + block_s <= duration_s - edge_s)
    energy = _normalise(analysis.loud_db, usable)
    repeated = _normalise(analysis.repetition, usable)
    combined = _ENERGY_WEIGHT * energy + (1.0 - _ENERGY_WEIGHT) * repeated

    means = _window_means(combined, width)
    starts = np.arange(len(means)) * block_s
    allowed = (starts >= lo_s - 1e-9) & (starts <= hi_s + 1e-9)
    if not allowed.any():
        return PreviewWindow((duration_s - length_s) / 2.0, length_s, 0.0, "centred")
    best = _section_start(means, allowed, block_s, analysis)
    start_s = _snap_start(float(starts[best]), lo_s, hi_s, analysis)
    start_s = min(max(start_s, lo_s), hi_s)
    first = min(round(start_s / block_s), len(means) - 1)
    score = float(means[first])
    return PreviewWindow(round(start_s, 3), length_s, round(score, 6), "energy+repetition")


# --------------------------------------------------------------------------- encoding


def _validate_encode_args(
    window: PreviewWindow, bitrate_kbps: int, fade_in_s: float, fade_out_s: float
) -> None:
    """Reject settings ffmpeg would accept but turn into a broken preview."""
    if (
        isinstance(bitrate_kbps, bool)
        or not isinstance(bitrate_kbps, Integral)
        or bitrate_kbps <= 0
    ):
        raise ValueError(f"bitrate_kbps must be a positive integer, got {bitrate_kbps!r}")
    for name, value in (("fade_in_s", fade_in_s), ("fade_out_s", fade_out_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number of seconds, got {value}")
    if fade_in_s + fade_out_s > window.duration_s + 1e-9:
        raise ValueError(
            f"fades of {fade_in_s} s in and {fade_out_s} s out do not fit a "
            f"{window.duration_s} s preview"
        )


def _preview_filter(window: PreviewWindow, fade_in_s: float, fade_out_s: float) -> str:
    """Filter chain: resample first so the cut is counted in output samples.

    ``atrim`` by sample index at 44.1 kHz is exact whatever the source rate,
    whereas input seeking lands on packet boundaries.
    """
    rate = PREVIEW_SAMPLE_RATE
    first = round(window.start_s * rate)
    count = round(window.duration_s * rate)
    parts = [
        f"aresample={rate}",
        f"atrim=start_sample={first}:end_sample={first + count}",
        "asetpts=PTS-STARTPTS",
        f"aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts=stereo",
    ]
    # Raised-cosine fades: no kink where a fade meets full level, which is
    # what makes short linear fades sound like a bump.
    if fade_in_s > 0:
        parts.append(f"afade=t=in:curve=hsin:st=0:d={fade_in_s:.6f}")
    if fade_out_s > 0:
        start = count / rate - fade_out_s
        parts.append(f"afade=t=out:curve=hsin:st={start:.6f}:d={fade_out_s:.6f}")
    return ",".join(parts)


def _check_length(path: str, window: PreviewWindow, source: str, ffmpeg_path: str | None) -> None:
    """Refuse a preview that came out short: the window ran past the source's end.

    ffmpeg happily writes whatever audio there was (or none), which would
    publish a clip without its fade-out, or an empty file.
    """
    try:
        got = probe_duration_s(path, ffmpeg_path=ffmpeg_path)
    except FFmpegError:
        got = 0.0
    if got < window.duration_s - _LENGTH_TOLERANCE_S:
        end = window.start_s + window.duration_s
        raise FFmpegError(
            f"the preview of {source!r} came out {got:.3f} s long, not "
            f"{window.duration_s:.3f} s: the window {window.start_s:.3f}..{end:.3f} s "
            "runs past the end of the audio"
        )


def _encode_command(
    binary: str, source: str, out_path: str, audio_filter: str, bitrate_kbps: int
) -> list[str]:
    """ffmpeg argv for an AAC-LC ``.m4a`` that is byte-identical run to run."""
    return [
        binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-i", source,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", audio_filter,
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", f"{int(bitrate_kbps)}k",
        "-ar", str(PREVIEW_SAMPLE_RATE), "-ac", "2",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-fflags", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart",
        "-f", "ipod",  # the .m4a flavour of the MP4 muxer; the temp name has no extension
        out_path,
    ]  # fmt: skip


def encode_preview(
    source: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    window: PreviewWindow,
    *,
    bitrate_kbps: int = 128,
    fade_in_s: float = 1.0,
    fade_out_s: float = 2.0,
    ffmpeg_path: str | None = None,
) -> None:
    """Cut ``window`` out of ``source`` into a faded AAC ``.m4a``, atomically.

    One ffmpeg run does the cut, the fades and the encode, so the preview
    never goes through a lossy intermediate. The MP4 muxer writes an edit
    list for the AAC encoder delay, so decoders return exactly
    ``window.duration_s`` of audio; a window running past the end of the
    source is an error rather than a short clip without its fade-out.
    Written to a temp file beside ``out_path`` and renamed, so a reader
    never sees half a preview, and a failed run leaves nothing behind.
    """
    _validate_encode_args(window, bitrate_kbps, fade_in_s, fade_out_s)
    src = os.fspath(source)
    if not Path(src).is_file():
        raise FFmpegError(f"cannot make a preview of {src!r}: no such file")
    binary = ffmpeg_binary(ffmpeg_path)
    target = Path(out_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        audio_filter = _preview_filter(window, fade_in_s, fade_out_s)
        command = _encode_command(binary, src, tmp_name, audio_filter, bitrate_kbps)
        _run(command, what=f"encode the preview of {src} to {target}")
        _check_length(tmp_name, window, src, ffmpeg_path)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
