"""audio.fingerprint: finding re-uploads of catalog recordings, and only those.

The calibration test is the contract for :data:`audio.fingerprint.DEFAULT_THRESHOLD`:
a catalog of synthetic songs, copies of them as re-uploaders make them
(re-encoded, re-levelled, trimmed), and distinct songs, including "siblings"
that share style, tempo, key and level with a catalog song and differ only
in the seed. Precision and recall must both reach 0.95.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from audio.ffmpeg import encode_pcm, ffmpeg_binary
from audio.fingerprint import (
    DEFAULT_THRESHOLD,
    FRAME_S,
    FingerprintError,
    FingerprintIndex,
    Match,
    find_matches,
    fingerprint,
    lookup_fingerprints,
)
from audio.synth import STYLES, TrackSpec, synthesize

SR = 44100
N_ORIGINALS = 32
MIN_PRECISION = MIN_RECALL = 0.95


# --------------------------------------------------------------------------- transformations


def _db(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def _ffmpeg_encode(pcm: np.ndarray, path: Path, *codec_args: str) -> None:
    """Encode with explicit ffmpeg options: the fast encoder settings re-uploaders often use."""
    command = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(SR), "-ac", str(pcm.shape[1]), "-i", "pipe:0",
        *codec_args, str(path),
    ]  # fmt: skip
    frames = np.ascontiguousarray(pcm, dtype="<f4").tobytes()
    subprocess.run(command, input=frames, check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Copy:
    """How a re-uploader changed a recording: gain, cuts at either end, and the encoding."""

    name: str
    fmt: str  # "mp3", "m4a", "wav" or "flac"
    kbps: int = 0
    gain_db: float = 0.0
    trim_start_s: float = 0.0
    trim_end_s: float = 0.0

    def render(self, pcm: np.ndarray, path: Path) -> None:
        start = int(round(self.trim_start_s * SR))
        end = pcm.shape[0] - int(round(self.trim_end_s * SR))
        edited = np.clip(pcm[start:end] * _db(self.gain_db), -1.0, 1.0)
        if self.fmt == "mp3":
            _ffmpeg_encode(edited, path, "-c:a", "libmp3lame", "-b:a", f"{self.kbps}k",
                           "-compression_level", "7")  # fmt: skip
        elif self.fmt == "m4a":
            _ffmpeg_encode(edited, path, "-c:a", "aac", "-aac_coder", "fast",
                           "-b:a", f"{self.kbps}k")  # fmt: skip
        else:
            encode_pcm(edited, SR, path, self.fmt)  # type: ignore[arg-type]


COPIES = (
    Copy("mp3-128", "mp3", kbps=128),
    Copy("mp3-320-cut-3.3s", "mp3", kbps=320, trim_start_s=3.3),
    Copy("aac-m4a-minus-6db", "m4a", kbps=160, gain_db=-6.0),
    Copy("wav-end-cut-5s", "wav", trim_end_s=5.0),  # the catalog holds FLAC: FLAC -> WAV
    Copy("mp3-256-plus-6db-cut-2.05s", "mp3", kbps=256, gain_db=6.0, trim_start_s=2.05),
    Copy("flac-minus-3db-cut-4.5s-and-3s", "flac", gain_db=-3.0, trim_start_s=4.5, trim_end_s=3.0),
    Copy("mp3-128-plus-4db-cut-2.5s", "mp3", kbps=128, gain_db=4.0, trim_start_s=2.5),
    Copy("aac-m4a-128-cut-4s", "m4a", kbps=128, trim_start_s=4.0),
)


def _original(i: int) -> TrackSpec:
    """Catalog song ``i``: every style, tempi 70..165, both modes, 35..45 s."""
    rng = np.random.default_rng([2026, i])
    style = STYLES[i % len(STYLES)]
    return TrackSpec(
        bpm=float(rng.integers(70, 166)),
        tonic=int(rng.integers(12)),
        mode="major" if rng.random() < 0.6 else "minor",
        duration_s=round(float(rng.uniform(35.0, 45.0)), 2),
        style=style,
        seed=10_000 + i,
        swing=0.12 if style in ("jazz", "gospel", "highlife", "reggae") else 0.0,
        level_db=round(float(rng.uniform(-20.0, -12.0)), 1),
    )


def _sibling(spec: TrackSpec) -> TrackSpec:
    """A different song with the same style, tempo, key, length and level."""
    return replace(spec, seed=spec.seed + 50_000)


def _stranger(i: int) -> TrackSpec:
    return replace(_original(1000 + i), seed=90_000 + i)


# --------------------------------------------------------------------------- generation (workers)


def _render_original(
    job: tuple[str, TrackSpec, tuple[Copy, ...], str],
) -> tuple[np.ndarray, list[str]]:
    """Synthesise a catalog song once: its FLAC master's fingerprint, and its copies' files."""
    track_id, spec, copies, folder = job
    pcm = synthesize(spec, SR)
    master = Path(folder) / f"{track_id}.flac"
    encode_pcm(pcm, SR, master, "flac")
    paths = []
    for copy in copies:
        path = Path(folder) / f"{track_id}-{copy.name}.{copy.fmt}"
        copy.render(pcm, path)
        paths.append(str(path))
    return fingerprint(master), paths


def _render_distinct(job: tuple[str, TrackSpec, str, str]) -> str:
    """A song that is in no catalog, as a lossless upload."""
    _name, spec, fmt, folder = job
    path = Path(folder) / f"distinct-{spec.seed}.{fmt}"
    encode_pcm(synthesize(spec, SR), SR, path, fmt)  # type: ignore[arg-type]
    return str(path)


_INDEX: FingerprintIndex | None = None


def _load_index(data: bytes) -> None:
    global _INDEX
    _INDEX = FingerprintIndex.from_bytes(data)


def _lookup(path: str) -> list[Match]:
    assert _INDEX is not None
    return find_matches(_INDEX, Path(path), threshold=0.0)  # thresholded by the tests


@dataclass(frozen=True)
class Query:
    name: str
    expected: str | None  # catalog track id it copies, None for a distinct song
    candidates: list[Match]  # every candidate the index scored, best first
    cut_s: float = 0.0  # seconds cut from the start of the copy

    @property
    def matches(self) -> list[Match]:
        return [m for m in self.candidates if m.similarity >= DEFAULT_THRESHOLD]

    def score_of(self, track_id: str | None) -> float:
        """Similarity to ``track_id`` (any catalog track when None); 0 when not a candidate."""
        return max(
            (m.similarity for m in self.candidates if track_id in (None, m.track_id)), default=0.0
        )


@dataclass(frozen=True)
class Calibration:
    index: FingerprintIndex
    queries: list[Query]


def _track_id(i: int) -> str:
    return f"CAT{i:03d}"


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    """The catalog indexed, and every copy and distinct song looked up (on all cores)."""
    folder = str(tmp_path_factory.mktemp("fingerprint-calibration"))
    originals = [_original(i) for i in range(N_ORIGINALS)]
    picks = [
        (COPIES[(2 * i) % len(COPIES)], COPIES[(2 * i + 1) % len(COPIES)])
        for i in range(N_ORIGINALS)
    ]
    distinct = [(f"sibling of {_track_id(i)}", _sibling(s), "wav") for i, s in enumerate(originals)]
    distinct += [(f"song {i}", _stranger(i), "flac") for i in range(N_ORIGINALS)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as pool:
        rendered = pool.map(
            _render_original,
            [(_track_id(i), s, picks[i], folder) for i, s in enumerate(originals)],
        )
        distinct_paths = pool.map(_render_distinct, [(n, s, f, folder) for n, s, f in distinct])
        index = FingerprintIndex()
        names, expected, paths, cuts = [], [], [], []
        for i, (fp, copy_paths) in enumerate(rendered):
            index.add(_track_id(i), fp)
            names += [f"{_track_id(i)} as {c.name}" for c in picks[i]]
            cuts += [c.trim_start_s for c in picks[i]]
            expected += [_track_id(i)] * len(copy_paths)
            paths += copy_paths
        names += [n for n, _, _ in distinct]
        expected += [None] * len(distinct)
        cuts += [0.0] * len(distinct)
        paths += list(distinct_paths)
    stored = index.to_bytes()
    with ProcessPoolExecutor(workers, initializer=_load_index, initargs=(stored,)) as pool:
        results = list(pool.map(_lookup, paths))
    return Calibration(index, [Query(*q) for q in zip(names, expected, results, cuts)])


# --------------------------------------------------------------------------- calibration


@pytest.mark.slow
def test_duplicates_are_found_and_distinct_songs_are_not(calibration: Calibration) -> None:
    copies = [q for q in calibration.queries if q.expected]
    distinct = [q for q in calibration.queries if not q.expected]
    assert len(copies) >= 60 and len(distinct) >= 60
    true_positive = sum(1 for q in copies if q.matches and q.matches[0].track_id == q.expected)
    false_positive = sum(1 for q in distinct if q.matches) + sum(
        1 for q in copies if q.matches and q.matches[0].track_id != q.expected
    )
    precision = true_positive / max(true_positive + false_positive, 1)
    recall = true_positive / len(copies)
    lowest_copy = min(q.score_of(q.expected) for q in copies)
    siblings = sorted(
        (q.score_of(None) for q in distinct if q.name.startswith("sibling")), reverse=True
    )
    highest_other = max(q.score_of(None) for q in distinct if not q.name.startswith("sibling"))
    print(
        f"\nfingerprint calibration at threshold {DEFAULT_THRESHOLD}: "
        f"{len(calibration.index)} catalog songs, {len(copies)} copies, {len(distinct)} distinct; "
        f"precision {precision:.3f}, recall {recall:.3f}; similarity of the weakest copy "
        f"{lowest_copy:.4f}, of the closest siblings "
        f"{', '.join(f'{x:.4f}' for x in siblings[:3])}, "
        f"of the closest other song {highest_other:.4f}"
    )
    flagged = [(q.name, q.matches[0].track_id, q.matches[0].similarity)
               for q in distinct if q.matches]  # fmt: skip
    print(f"distinct songs flagged as duplicates: {flagged}")
    missed = [q.name for q in copies if not q.matches or q.matches[0].track_id != q.expected]
    wrong = [(q.name, q.matches[0]) for q in distinct if q.matches]
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, (missed, wrong)


@pytest.mark.slow
def test_threshold_sits_in_the_gap(calibration: Calibration) -> None:
    """Every copy clears the threshold; songs that share nothing but a style stay far below it.

    (A sibling may come close: with few bars and one of six progressions, two
    seeds can render nearly the same backing track; precision above allows for it.)
    """
    copies = [q for q in calibration.queries if q.expected]
    strangers = [q for q in calibration.queries if q.name.startswith("song ")]
    assert min(q.score_of(q.expected) for q in copies) >= DEFAULT_THRESHOLD
    assert max(q.score_of(None) for q in strangers) < DEFAULT_THRESHOLD - 0.1


@pytest.mark.slow
def test_offsets_report_the_cut(calibration: Calibration) -> None:
    """The match says how much was cut from the start, to within a quarter frame."""
    for q in calibration.queries:
        if q.expected:
            assert q.matches[0].offset == pytest.approx(q.cut_s, abs=FRAME_S / 4 + 0.01), q.name


# --------------------------------------------------------------------------- the index


def _random_fp(seed: int, n: int = 960) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint32)


def _flip_bits(fp: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Each bit flipped with probability ``rate``: what re-encoding does to a fingerprint."""
    bits = np.random.default_rng(seed).random((fp.size, 32)) < rate
    mask = (bits * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1).astype(np.uint32)
    return fp ^ mask


def _catalog(n: int) -> FingerprintIndex:
    index = FingerprintIndex()
    for i in range(n):
        index.add(f"T{i}", _random_fp(i))
    return index


def test_exact_copy_matches_fully() -> None:
    index = _catalog(50)
    [best] = index.match(index.fingerprint_of("T7"))
    assert best == Match("T7", 1.0, 0.0)


def test_noisy_trimmed_copy_matches_with_its_offset() -> None:
    index = _catalog(200)
    query = _flip_bits(index.fingerprint_of("T42")[40:700], rate=0.05, seed=1)
    matches = index.match(query)
    assert [m.track_id for m in matches] == ["T42"]
    assert matches[0].offset == pytest.approx(40 * FRAME_S, abs=1e-3)
    assert 0.93 < matches[0].similarity < 0.97


def test_extreme_frame_values_are_indexed() -> None:
    """All-ones and all-zeros frames (silence gives constant values) sit at the key space's ends."""
    index = _catalog(20)
    ones = np.full(300, 0xFFFFFFFF, dtype=np.uint32)
    ones[::7] = _random_fp(77, 300)[::7]  # some structure, so it is more than one repeated value
    zeros = np.where(ones == 0xFFFFFFFF, np.uint32(0), ones)
    index.add("ONES", ones)
    index.add("ZEROS", zeros)
    assert index.match(ones)[0].track_id == "ONES"
    assert index.match(zeros)[0].track_id == "ZEROS"


def test_unrelated_fingerprint_matches_nothing() -> None:
    index = _catalog(200)
    assert index.match(_random_fp(10_000)) == []
    assert index.match(_random_fp(10_001), threshold=0.0) == [] or all(
        m.similarity < 0.6 for m in index.match(_random_fp(10_001), threshold=0.0)
    )


def test_empty_inputs() -> None:
    index = FingerprintIndex()
    assert index.match(_random_fp(1)) == [] and len(index) == 0
    index.add("A", _random_fp(1))
    assert index.match(np.zeros(0, dtype=np.uint32)) == []
    with pytest.raises(ValueError, match="non-empty"):
        index.add("B", np.zeros(0, dtype=np.uint32))
    with pytest.raises(ValueError, match="1-D"):
        index.match(np.zeros((2, 2), dtype=np.uint32))


def test_add_replace_remove() -> None:
    index = _catalog(10)
    assert len(index) == 10 and "T3" in index
    index.add("T3", _random_fp(500))  # replaced, not duplicated
    assert len(index) == 10
    assert index.match(_random_fp(3)) == []
    assert [m.track_id for m in index.match(_random_fp(500))] == ["T3"]
    index.remove("T3")
    assert "T3" not in index and len(index) == 9
    assert index.match(_random_fp(500)) == []
    with pytest.raises(KeyError, match="T3"):
        index.remove("T3")


def test_incremental_index_equals_a_loaded_one() -> None:
    """Adds, removes and lookups interleaved (segments merge, removed tracks are compacted)
    give the same answers as an index loaded from storage: the index is deterministic."""
    incremental = FingerprintIndex()
    queries = []
    for i in range(300):
        incremental.add(f"T{i}", _random_fp(i, n=200 + i % 50))
        if i % 7 == 0:
            queries.append(_flip_bits(incremental.fingerprint_of(f"T{i}")[i % 30 :], 0.04, i))
            incremental.match(queries[-1])  # forces a segment now and then
        if i % 3 == 0 and i > 0:
            incremental.remove(f"T{i - 1}")
    loaded = FingerprintIndex.from_bytes(incremental.to_bytes())
    assert len(loaded) == len(incremental) == 300 - 99
    for query in queries:
        assert incremental.match(query) == loaded.match(query)
    assert loaded.to_bytes() == incremental.to_bytes()


def test_storage_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a stored fingerprint index"):
        FingerprintIndex.from_bytes(b"definitely not an npz")
    assert len(FingerprintIndex.from_bytes(FingerprintIndex().to_bytes())) == 0


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fp-song") / "song.flac"
    encode_pcm(synthesize(_original(3), SR), SR, path, "flac")
    return path


def test_fingerprint_is_deterministic(song: Path) -> None:
    first, second = fingerprint(song), fingerprint(song)
    assert first.dtype == np.uint32 and first.size > 200
    assert np.array_equal(first, second)
    assert fingerprint(song, max_seconds=10).size < 0.3 * first.size


def test_fingerprint_of_bad_files_fails_clearly(tmp_path: Path) -> None:
    text = tmp_path / "lyrics.mp3"
    text.write_text("not audio at all\n" * 10)
    with pytest.raises(FingerprintError, match="lyrics.mp3"):
        fingerprint(text)
    with pytest.raises(FingerprintError, match="no such file"):
        fingerprint(tmp_path / "missing.flac")


# --------------------------------------------------------------------------- the sample world


def _upload_audio(folder: Path) -> tuple[str, Path] | None:
    """(normalised ISRC, audio path) of a per-track upload, if it has both."""
    try:
        meta = json.loads((folder / "metadata.json").read_text())
        isrc = str(meta["isrc"]).replace("-", "").upper()
        path = folder / str(meta["audio_file"])
    except (OSError, ValueError, KeyError):
        return None
    if not path.is_file() or not path.resolve().is_relative_to(folder.resolve()):
        return None
    return isrc, path


@pytest.mark.slow
def test_sample_world_duplicate_is_found(small_world_dir: Path) -> None:
    manifest = json.loads((small_world_dir / "truth/expected_rejections.json").read_text())
    uploads = small_world_dir / "landing/uploads"
    index = FingerprintIndex()
    accepted = {}
    for delivery_id in manifest["accepted"]:
        found = _upload_audio(uploads / delivery_id)
        if found:
            accepted[found[0]] = found[1]
            index.add(found[0], fingerprint(found[1]))
        for resource in sorted((uploads / delivery_id / "resources").glob("*.flac")):
            index.add(f"{delivery_id}/{resource.name}", fingerprint(resource))
    [duplicate] = [r for r in manifest["rejections"] if r.get("duplicate_of")]
    found = _upload_audio(uploads / duplicate["delivery_id"])
    assert found is not None
    matches = find_matches(index, found[1])
    assert [m.track_id for m in matches] == [duplicate["duplicate_of"]], matches
    for isrc, path in accepted.items():  # honest uploads match only themselves
        assert [m.track_id for m in find_matches(index, path)] == [isrc]


def test_stored_views_give_the_same_answer_as_the_file(song: Path, tmp_path: Path) -> None:
    """Ingestion fingerprints in one step and looks up later: stored views must suffice."""
    index = FingerprintIndex()
    index.add("SONG", fingerprint(song))
    copy = tmp_path / "copy.wav"
    pcm = synthesize(_original(3), SR)
    encode_pcm(pcm[int(3.06 * SR) :], SR, copy, "wav")  # ~half a frame off the catalog's grid
    views = lookup_fingerprints(copy)
    assert [start for start, _ in views] == [0.0, pytest.approx(FRAME_S / 2)]
    assert np.array_equal(views[0][1], fingerprint(copy))
    assert index.match_views(views) == find_matches(index, copy)
    [best] = find_matches(index, copy)
    assert best.track_id == "SONG" and best.offset == pytest.approx(3.06, abs=FRAME_S / 4)
    assert best.similarity > index.match(views[0][1], threshold=0.0)[0].similarity
