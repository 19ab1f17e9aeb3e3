"""Acoustic fingerprints, and an index that finds a recording already in the catalog.

A re-upload of someone else's master is rarely byte-identical: it is
re-encoded, made louder or quieter, or has a few seconds cut off. Hashes miss
all of those; a Chromaprint fingerprint does not. It is a sequence of 32-bit
values, about eight per second, each summarising the chroma (pitch-class)
changes around that moment, so the same recording yields nearly the same
bits after any of those transformations, while a different song (even one in
the same style, tempo and key) disagrees on a large share of them.

The index finds candidates without comparing the query with every catalog
track: every catalog frame is filed under sub-keys (two overlapping 20-bit
slices of its 32-bit value, so one flipped bit rarely loses both), and each
query frame that shares a sub-key votes for (track, time offset). The same
recording re-cut by a few seconds collects many votes at one offset; a few
top candidates are then scored exactly by the bit error rate over their
aligned overlap.

The catalog grows one upload at a time, so postings live in immutable sorted
segments that are merged geometrically (as in a log-structured merge tree):
adding a track never re-sorts the whole catalog, and a lookup searches only
O(log n) segments.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.ffmpeg import FFmpegError, ffmpeg_binary

__all__ = [
    "FRAME_S",
    "DEFAULT_THRESHOLD",
    "LOOKUP_PHASES_S",
    "FingerprintError",
    "fingerprint",
    "find_matches",
    "lookup_fingerprints",
    "Match",
    "FingerprintIndex",
]

# Chromaprint's default algorithm (1, "TEST2") emits one value per 4096/3
# samples at its internal 11025 Hz: 0.1238 s per frame, ~8.07 per second.
ALGORITHM = 1
FRAME_S = 4096 / 3 / 11025
# Share of agreeing bits from which two fingerprints are the same recording.
# Calibrated on synthetic music (tests/ingestion/test_fingerprint.py), looked
# up with find_matches: copies re-encoded (MP3, AAC, WAV), re-levelled (+-6 dB)
# or trimmed keep >= 0.97; different songs sharing style, tempo, key and level
# reach 0.89 (one seed pair that renders nearly the same backing track, 0.99);
# unrelated songs stay under 0.75.
DEFAULT_THRESHOLD = 0.93
# A copy trimmed by a whole number of frames lines up with the catalog frame
# for frame; one trimmed by half a frame does not, and loses ~5 points of
# agreement. Looking an upload up from two starting points half a frame apart
# guarantees one of them is within a quarter frame of the catalog's grid.
LOOKUP_PHASES_S = (0.0, FRAME_S / 2)

_KEY_BITS = 20
_SLICE_SHIFTS = (12, 0)  # bits 12..31 and bits 0..19 of each frame value
_CATALOG_STRIDE = 2  # file every 2nd catalog frame: the query still offers every frame
_TOP_CANDIDATES = 16
_MIN_VOTES = 2
_MIN_OVERLAP_FRAMES = 24  # ~3 s: less is not evidence of anything
_FULL_OVERLAP_FRAMES = 80  # ~10 s: required when both sides are at least this long
_HOT_KEY_FACTOR = 64  # a sub-key this many times more common than average is noise (silence)
_HOT_KEY_FLOOR = 512
_FORMAT_VERSION = 1


class FingerprintError(FFmpegError):
    """A file could not be fingerprinted; the message says which and why."""


def fingerprint(
    path: Path,
    *,
    ffmpeg_path: str | None = None,
    max_seconds: float = 120,
    start_s: float = 0.0,
    timeout_s: float = 120,
) -> np.ndarray:
    """The Chromaprint fingerprint (uint32 frames) of ``max_seconds`` of ``path`` from ``start_s``.

    Only the opening is used: it is where re-uploads and the catalog agree
    (uploads are whole tracks), and it bounds cost and index size per track.
    The audio is downmixed to mono by ffmpeg first so any channel layout
    works. Audio shorter than about three seconds yields an empty array.
    """
    source = Path(path)
    if not source.is_file():
        raise FingerprintError(f"cannot fingerprint {source}: no such file")
    command = [
        ffmpeg_binary(ffmpeg_path), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-protocol_whitelist", "file", "-ss", f"{float(start_s):.6f}",
        "-t", f"{float(max_seconds):g}", "-i", f"file:{source.resolve()}",
        "-map", "0:a:0", "-vn", "-ac", "1",
        "-f", "chromaprint", "-fp_format", "raw", "-algorithm", str(ALGORITHM), "pipe:1",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise FingerprintError(
            f"fingerprinting {source} did not finish within {timeout_s:g} s", command=command
        ) from exc
    except OSError as exc:
        raise FingerprintError(f"could not start ffmpeg to fingerprint {source}: {exc}") from exc
    if done.returncode != 0:
        raise FingerprintError(
            f"ffmpeg could not fingerprint {source} (exit status {done.returncode})",
            command=command,
            stderr=done.stderr.decode("utf-8", errors="replace"),
        )
    usable = len(done.stdout) - len(done.stdout) % 4
    return np.frombuffer(done.stdout[:usable], dtype="<u4").astype(np.uint32)


def lookup_fingerprints(
    path: Path,
    *,
    ffmpeg_path: str | None = None,
    max_seconds: float = 120,
    timeout_s: float = 120,
) -> list[tuple[float, np.ndarray]]:
    """``(start_s, fingerprint)`` of ``path`` at each of :data:`LOOKUP_PHASES_S`.

    What to keep for looking an upload up later (:meth:`FingerprintIndex.match_views`);
    the first view starts at 0 and is what :func:`fingerprint` gives, the one
    to file in the catalog.
    """
    return [
        (start, fingerprint(path, ffmpeg_path=ffmpeg_path, max_seconds=max_seconds,
                            start_s=start, timeout_s=timeout_s))  # fmt: skip
        for start in LOOKUP_PHASES_S
    ]


def find_matches(
    index: FingerprintIndex,
    path: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ffmpeg_path: str | None = None,
    max_seconds: float = 120,
    timeout_s: float = 120,
) -> list[Match]:
    """Catalog tracks that ``path`` is a copy of, best first: the lookup ingestion should use.

    Looks the file up from every phase of :data:`LOOKUP_PHASES_S`, so a copy
    trimmed by any amount lines up with the catalog. Raises
    :class:`FingerprintError` when the file cannot be fingerprinted.
    """
    views = lookup_fingerprints(
        path, ffmpeg_path=ffmpeg_path, max_seconds=max_seconds, timeout_s=timeout_s
    )
    return index.match_views(views, threshold=threshold)


@dataclass(frozen=True)
class Match:
    """A catalog track the query matched.

    ``similarity`` is the share of agreeing fingerprint bits over the aligned
    overlap (1.0 identical, ~0.5 unrelated). ``offset`` is in seconds: where in
    the catalog track the query's start lies (2.0 means the query is the
    catalog track with its first two seconds cut; negative means the query
    has extra audio in front).
    """

    track_id: str
    similarity: float
    offset: float


# A posting packs into 64 bits: sub-key (slice tag + key bits), the track's
# index within its segment, and the frame's position within the track.
_POSITION_BITS = 16
_TRACK_BITS = 64 - _POSITION_BITS - (_KEY_BITS + 1)
MAX_FRAMES = 1 << _POSITION_BITS  # ~2.25 h of audio: far beyond any max_seconds
assert len(_SLICE_SHIFTS) <= 2  # one tag bit


@dataclass(frozen=True)
class _Segment:
    """Immutable postings of some tracks, sorted by sub-key.

    Each entry packs ``sub-key | local track | position``, so one sort orders
    postings by key (then track, then position), a key's postings are one
    contiguous range found by binary search, and a hit decodes to its track
    and position without another lookup. ``slots[i]`` is the index slot of
    the segment's local track ``i``.
    """

    entries: np.ndarray  # uint64, sorted
    slots: np.ndarray  # int64

    @property
    def nbytes(self) -> int:
        return self.entries.nbytes + self.slots.nbytes

    def ranges(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) entry ranges holding each of ``keys`` (fastest with ``keys`` sorted)."""
        first = keys.astype(np.uint64) << np.uint64(_TRACK_BITS + _POSITION_BITS)
        last = first | np.uint64((1 << (_TRACK_BITS + _POSITION_BITS)) - 1)  # no overflow
        return (
            np.searchsorted(self.entries, first, "left"),
            np.searchsorted(self.entries, last, "right"),
        )

    def hits(self, entry_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slot, position in its track) of the given entries."""
        entries = self.entries[entry_index]
        local = (entries >> np.uint64(_POSITION_BITS)) & np.uint64((1 << _TRACK_BITS) - 1)
        positions = entries & np.uint64(MAX_FRAMES - 1)
        return self.slots[local.astype(np.int64)], positions.astype(np.int64)


def _sub_keys(frames: np.ndarray) -> np.ndarray:
    """(slices, frames) sub-keys, each tagged with its slice number above the key bits."""
    mask = np.uint32((1 << _KEY_BITS) - 1)
    return np.stack(
        [
            ((frames >> np.uint32(shift)) & mask) | np.uint32(i << _KEY_BITS)
            for i, shift in enumerate(_SLICE_SHIFTS)
        ]
    )


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each count, concatenated (the index of each item within its group)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


def _build_segment(slots: list[int], fps: list[np.ndarray]) -> _Segment:
    """Postings for the given tracks: every ``_CATALOG_STRIDE``-th frame under each sub-key.

    Written slice by slice into one preallocated array with in-place
    operations: at 100k tracks there are ~10**8 entries, and every
    temporary array would cost most of a gigabyte.
    """
    if len(slots) >= 1 << _TRACK_BITS:
        raise ValueError(f"a segment may hold at most {1 << _TRACK_BITS} tracks")
    lengths = np.array([len(fps[s]) for s in slots], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    frames = np.concatenate([fps[s] for s in slots]) if slots else np.zeros(0, np.uint32)
    filed = (lengths + _CATALOG_STRIDE - 1) // _CATALOG_STRIDE
    position = _ranks(filed) * _CATALOG_STRIDE
    local = np.repeat(np.arange(len(slots), dtype=np.int64), filed)
    values = frames[starts[local] + position]
    where = local.astype(np.uint64)  # becomes local << position bits | position
    where <<= np.uint64(_POSITION_BITS)
    where |= position.astype(np.uint64)
    del local, position, frames
    n = values.size
    entries = np.empty(n * len(_SLICE_SHIFTS), dtype=np.uint64)
    for i, key in enumerate(_sub_keys(values)):
        part = entries[i * n : (i + 1) * n]
        part[:] = key
        part <<= np.uint64(_TRACK_BITS + _POSITION_BITS)
        part |= where
    entries.sort()
    return _Segment(entries, np.asarray(slots, dtype=np.int64))


def _bit_agreement(query: np.ndarray, track: np.ndarray, delta: int) -> tuple[float, int]:
    """Share of equal bits and overlap length with ``query[i]`` aligned to ``track[i + delta]``."""
    q_start = max(0, -delta)
    t_start = q_start + delta
    n = min(len(query) - q_start, len(track) - t_start)
    if n <= 0:
        return 0.0, 0
    diff = np.bitwise_xor(query[q_start : q_start + n], track[t_start : t_start + n])
    errors = int(np.bitwise_count(diff).sum())
    return 1.0 - errors / (32.0 * n), n


class FingerprintIndex:
    """Catalog fingerprints by track id, searchable for near-duplicates (module docstring).

    Deterministic: the same sequence of ``add``/``remove`` calls gives the
    same matches, whether the index was built incrementally or loaded with
    :meth:`from_bytes`.
    """

    def __init__(self) -> None:
        self._ids: list[str | None] = []
        self._fps: list[np.ndarray] = []
        self._sizes: list[int] = []  # frames each slot was added with (kept after removal)
        self._slot_of: dict[str, int] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._segments: list[_Segment] = []
        self._pending: dict[int, None] = {}  # slots added since the last seal, in order
        self._dead_frames = 0
        self._live_frames = 0

    # ----------------------------------------------------------------- catalog

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._slot_of

    def add(self, track_id: str, fp: np.ndarray) -> None:
        """File ``fp`` under ``track_id``, replacing any fingerprint it had."""
        frames = np.array(fp, dtype=np.uint32)  # a copy: the caller may reuse its array
        if frames.ndim != 1 or frames.size == 0:
            raise ValueError(f"fingerprint of {track_id!r} must be a non-empty 1-D array")
        if frames.size > MAX_FRAMES:
            raise ValueError(
                f"fingerprint of {track_id!r} has {frames.size} frames; at most {MAX_FRAMES} "
                f"are indexed (fingerprint the first minutes: see max_seconds)"
            )
        if track_id in self._slot_of:
            self.remove(track_id)
        slot = len(self._ids)
        self._ids.append(track_id)
        self._fps.append(frames)
        self._sizes.append(frames.size)
        self._slot_of[track_id] = slot
        if slot >= len(self._alive):
            grown = np.zeros(max(16, 2 * len(self._alive)), dtype=bool)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        self._alive[slot] = True
        self._pending[slot] = None
        self._live_frames += frames.size

    def remove(self, track_id: str) -> None:
        """Forget ``track_id`` (a KeyError names it when it is not in the index)."""
        if track_id not in self._slot_of:
            raise KeyError(f"track {track_id!r} is not in the fingerprint index")
        slot = self._slot_of.pop(track_id)
        self._alive[slot] = False
        self._ids[slot] = None
        size = self._fps[slot].size
        self._fps[slot] = np.zeros(0, dtype=np.uint32)
        self._live_frames -= size
        if slot in self._pending:
            del self._pending[slot]
        else:
            self._dead_frames += size

    def fingerprint_of(self, track_id: str) -> np.ndarray:
        """The stored fingerprint of ``track_id``."""
        return self._fps[self._slot_of[track_id]]

    @property
    def nbytes(self) -> int:
        """Memory held by fingerprints and postings."""
        self._seal()
        return sum(fp.nbytes for fp in self._fps) + sum(s.nbytes for s in self._segments)

    # ----------------------------------------------------------------- lookup

    def match(
        self, fp: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD, start_s: float = 0.0
    ) -> list[Match]:
        """Catalog tracks whose fingerprint agrees with ``fp`` at ``threshold`` or more, best first.

        ``start_s`` is where in its audio ``fp`` starts (it corrects the
        reported offsets). One fingerprint can sit up to half a frame off the
        catalog's grid and lose ~5 points of similarity: look uploads up with
        :func:`find_matches` or :meth:`match_views`, which try two phases.
        """
        query = np.ascontiguousarray(fp, dtype=np.uint32)
        if query.ndim != 1:
            raise ValueError("a fingerprint is a 1-D array of uint32 frames")
        self._seal()
        if query.size == 0 or not self._slot_of:
            return []
        votes = self._votes(query)
        matches = [
            m
            for m in (self._score(query, slot, delta, start_s) for slot, delta in votes)
            if m is not None and m.similarity >= threshold
        ]
        return sorted(matches, key=lambda m: (-m.similarity, m.track_id))

    def match_views(
        self, views: Iterable[tuple[float, np.ndarray]], *, threshold: float = DEFAULT_THRESHOLD
    ) -> list[Match]:
        """:meth:`match` for each ``(start_s, fingerprint)`` view of one upload, keeping each
        track's best match (views from :func:`lookup_fingerprints`)."""
        best: dict[str, Match] = {}
        for start_s, fp in views:
            for found in self.match(fp, threshold=threshold, start_s=start_s):
                kept = best.get(found.track_id)
                if kept is None or found.similarity > kept.similarity:
                    best[found.track_id] = found
        return sorted(best.values(), key=lambda m: (-m.similarity, m.track_id))

    def _votes(self, query: np.ndarray) -> list[tuple[int, int]]:
        """Top (slot, offset in frames) candidates by number of agreeing sub-keys."""
        keys = _sub_keys(query).ravel()
        q_pos = np.tile(np.arange(query.size, dtype=np.int64), len(_SLICE_SHIFTS))
        order = np.argsort(keys, kind="stable")  # sorted keys make binary searches cache-friendly
        keys, q_pos = keys[order], q_pos[order]
        ranges = [seg.ranges(keys) for seg in self._segments]
        counts = sum(hi - lo for lo, hi in ranges)
        total = sum(seg.entries.size for seg in self._segments)
        mean = total / (len(_SLICE_SHIFTS) << _KEY_BITS)
        usable = counts <= max(_HOT_KEY_FLOOR, _HOT_KEY_FACTOR * mean)
        pairs = [
            self._segment_pairs(seg, lo[usable], hi[usable], q_pos[usable])
            for seg, (lo, hi) in zip(self._segments, ranges)
        ]
        slots = np.concatenate([p[0] for p in pairs])
        deltas = np.concatenate([p[1] for p in pairs])
        keep = self._alive[slots] & (np.abs(deltas) < (1 << 15))
        return _top_candidates(slots[keep], deltas[keep])

    @staticmethod
    def _segment_pairs(
        seg: _Segment, lo: np.ndarray, hi: np.ndarray, q_pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(slot, catalog position - query position) for every posting the query keys hit."""
        counts = hi - lo
        if not counts.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        owner = np.repeat(np.arange(counts.size), counts)
        slots, positions = seg.hits(lo[owner] + _ranks(counts))
        return slots, positions - q_pos[owner]

    def _score(self, query: np.ndarray, slot: int, delta: int, start_s: float) -> Match | None:
        """Exact bit agreement at the voted offset (and its neighbours: votes split on
        sub-frame shifts); None when the overlap is too short to be evidence."""
        track = self._fps[slot]
        trials = [(*_bit_agreement(query, track, d), d) for d in (delta - 1, delta, delta + 1)]
        best, overlap, best_delta = max(trials, key=lambda t: (t[0], -abs(t[2])))
        required = max(_MIN_OVERLAP_FRAMES, min(_FULL_OVERLAP_FRAMES, query.size, track.size))
        if overlap < required:
            return None
        track_id = self._ids[slot]
        assert track_id is not None
        return Match(track_id, round(best, 4), round(best_delta * FRAME_S - start_s, 3))

    # ----------------------------------------------------------------- segments

    def _seal(self) -> None:
        """Turn pending additions into a segment, merging segments of similar size.

        Merging whenever the previous segment is less than twice the new one
        keeps O(log n) segments and re-files each frame O(log n) times overall.
        Merges drop removed tracks; so does a full rebuild once removed frames
        outweigh half the live ones.
        """
        if self._dead_frames > self._live_frames // 2 and self._dead_frames:
            self._pending = dict.fromkeys(self._live_slots())
            self._segments = []
            self._dead_frames = 0
        if not self._pending:
            return
        slots = list(self._pending)
        self._pending = {}
        while self._segments and self._segments[-1].slots.size < 2 * len(slots):
            merged = self._segments.pop()
            alive = self._alive[merged.slots]
            self._dead_frames -= sum(self._sizes[s] for s in merged.slots[~alive].tolist())
            slots = merged.slots[alive].tolist() + slots
        self._segments.append(_build_segment(slots, self._fps))

    def _live_slots(self) -> list[int]:
        return [slot for slot, alive in enumerate(self._alive[: len(self._ids)]) if alive]

    # ----------------------------------------------------------------- storage

    def to_bytes(self) -> bytes:
        """The catalog as an .npz (no pickles): ids and fingerprints in insertion order.

        Postings are not stored: they are rebuilt on load in linear time, so the
        stored form never depends on the in-memory layout.
        """
        slots = self._live_slots()
        ids = np.array([self._ids[s] for s in slots], dtype=np.str_)
        lengths = np.array([self._fps[s].size for s in slots], dtype=np.int64)
        frames = (
            np.concatenate([self._fps[s] for s in slots]) if slots else np.zeros(0, np.uint32)
        )
        buffer = io.BytesIO()
        np.savez(
            buffer,
            version=np.array([_FORMAT_VERSION, ALGORITHM], dtype=np.int64),
            ids=ids,
            lengths=lengths,
            frames=frames.astype("<u4"),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerprintIndex:
        """An index from :meth:`to_bytes` output; a ValueError says what is wrong with bad data."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                version, ids, lengths, frames = (
                    npz["version"], npz["ids"], npz["lengths"], npz["frames"]
                )
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise ValueError(f"not a stored fingerprint index: {exc}") from exc
        if tuple(version.tolist()) != (_FORMAT_VERSION, ALGORITHM):
            raise ValueError(f"stored fingerprint index has version {version.tolist()}, "
                             f"expected {[_FORMAT_VERSION, ALGORITHM]}")  # fmt: skip
        if lengths.sum() != frames.size or ids.size != lengths.size or (lengths <= 0).any():
            raise ValueError("stored fingerprint index is inconsistent (lengths vs frames)")
        index = cls()
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        index.add_many(
            (str(i), frames[a:b]) for i, a, b in zip(ids.tolist(), bounds[:-1], bounds[1:])
        )
        return index

    def add_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """``add`` for each (track_id, fingerprint); filed into one segment on the next lookup."""
        for track_id, fp in items:
            self.add(track_id, fp)


def _top_candidates(slots: np.ndarray, deltas: np.ndarray) -> list[tuple[int, int]]:
    """Each track's most-voted offset, for the ``_TOP_CANDIDATES`` most-voted tracks.

    Ties break towards the lower slot and the smaller offset, so the answer
    never depends on the order postings were found in.
    """
    if slots.size == 0:
        return []
    pair = (slots << 16) + (deltas + (1 << 15))
    unique, votes = np.unique(pair, return_counts=True)
    keep = votes >= _MIN_VOTES
    unique, votes = unique[keep], votes[keep]
    if unique.size == 0:
        return []
    cand_slots = unique >> 16
    cand_deltas = (unique & 0xFFFF) - (1 << 15)
    order = np.lexsort((np.abs(cand_deltas), -votes, cand_slots))
    first = np.ones(order.size, dtype=bool)
    first[1:] = cand_slots[order][1:] != cand_slots[order][:-1]
    best = order[first]  # one (most voted) offset per slot
    ranked = best[np.lexsort((cand_slots[best], -votes[best]))][:_TOP_CANDIDATES]
    return [(int(cand_slots[i]), int(cand_deltas[i])) for i in ranked]
