"""Benchmark: audio validation throughput and duplicate lookup against growing catalogs.

Validation: a generated mix of good uploads (synthetic music as WAV, FLAC and
MP3) and bad ones (truncated, renamed, WMA, 4 kHz, 8 channels, silent,
clipped, too short, text, empty) is validated one file after another on one
core; files per second and audio seconds per second are reported.

Lookup: fingerprint catalogs of 1k, 10k and 100k tracks. A few are real
fingerprints of the generated music; the rest are pseudo fingerprints
(uniform random uint32 sequences of ~120 s x 8.07 frames). Queries are
noisy, trimmed copies of catalog tracks (5 % of bits flipped, 0..40 frames
cut) and songs not in the catalog; per-query time of ``FingerprintIndex.match``
is reported as median and p95, with the build time (filing every track and
sorting the postings) and the memory the index holds.

    .venv/bin/python benchmarks/ingestion.py            # 1k, 10k, 100k
    .venv/bin/python benchmarks/ingestion.py --quick    # 1k, 10k; fewer files
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audio.ffmpeg import encode_pcm, ffmpeg_binary  # noqa: E402
from audio.fingerprint import FingerprintIndex, find_matches, fingerprint  # noqa: E402
from audio.synth import STYLES, TrackSpec, synthesize  # noqa: E402
from audio.validate import validate_audio  # noqa: E402

SR = 44100
FRAMES_PER_TRACK = 968  # 120 s at 8.07 frames per second


# --------------------------------------------------------------------------- test files


def _music(i: int, seconds: float) -> np.ndarray:
    spec = TrackSpec(
        bpm=float(80 + 7 * i % 80), tonic=i % 12, mode="minor" if i % 3 else "major",
        duration_s=seconds, style=STYLES[i % len(STYLES)], seed=700 + i,
    )  # fmt: skip
    return synthesize(spec, SR)


def _ffmpeg(pcm: np.ndarray, path: Path, *args: str, rate: int = SR) -> Path:
    import subprocess

    command = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "f32le",
        "-ar", str(rate), "-ac", str(pcm.shape[1]), "-i", "pipe:0", *args, str(path),
    ]  # fmt: skip
    subprocess.run(command, input=np.ascontiguousarray(pcm, "<f4").tobytes(), check=True)
    return path


def _cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_files(folder: Path, n_good: int) -> tuple[list[Path], list[Path]]:
    """Good music files (WAV/FLAC/MP3 in turn) and one of each kind of bad file."""
    good = []
    for i in range(n_good):
        fmt = ("wav", "flac", "mp3")[i % 3]
        path = folder / f"good-{i}.{fmt}"
        encode_pcm(_music(i, 40.0), SR, path, fmt)  # type: ignore[arg-type]
        good.append(path)
    song = _music(99, 60.0)
    bad_makers: dict[str, Callable[[Path], Path]] = {
        "truncated.flac": lambda p: (encode_pcm(song, SR, p, "flac"), _cut(p, 0.6))[1],
        "truncated.mp3": lambda p: (encode_pcm(song, SR, p, "mp3"), _cut(p, 0.6))[1],
        "flac-named.mp3": lambda p: (encode_pcm(song, SR, p, "flac"), p)[1],
        "windows.wma": lambda p: _ffmpeg(song, p, "-c:a", "wmav2", "-f", "asf"),
        "phone.wav": lambda p: _ffmpeg(song, p, "-c:a", "pcm_s16le", "-ar", "4000"),
        "surround.flac": lambda p: (encode_pcm(np.tile(song, 4), SR, p, "flac"), p)[1],
        "silence.flac": lambda p: (encode_pcm(np.zeros_like(song), SR, p, "flac"), p)[1],
        "clipped.wav": lambda p: (encode_pcm(np.clip(song * 8, -1, 1), SR, p, "wav"), p)[1],
        "sketch.flac": lambda p: (encode_pcm(song[: 10 * SR], SR, p, "flac"), p)[1],
        "lyrics.wav": lambda p: (p.write_text("Verse 1\nMotema na ngai\n" * 30), p)[1],
        "empty.wav": lambda p: (p.write_bytes(b""), p)[1],
    }
    bad = [make(folder / name) for name, make in bad_makers.items()]
    return good, bad


def bench_validation(files: list[Path]) -> tuple[float, float, float, dict[str, int]]:
    """(wall s, files/s, audio s per wall s, problems by reason) for validating ``files``."""
    audio_s = 0.0
    reasons: dict[str, int] = {}
    start = time.perf_counter()
    for path in files:
        facts, problems = validate_audio(path, path.name)
        audio_s += (facts.decoded_duration_s or 0.0) if facts else 0.0
        for problem in problems:
            reasons[problem.reason.value] = reasons.get(problem.reason.value, 0) + 1
    wall = time.perf_counter() - start
    return wall, len(files) / wall, audio_s / wall, reasons


# --------------------------------------------------------------------------- lookups


def pseudo_fingerprints(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(FRAMES_PER_TRACK - 200, FRAMES_PER_TRACK + 1, n)
    frames = rng.integers(0, 2**32, int(lengths.sum()), dtype=np.uint32)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [frames[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def noisy_copy(fp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A re-encoded, trimmed copy: 5 % of bits flipped, up to 40 frames cut from the start."""
    cut = int(rng.integers(0, 41))
    copy = fp[cut:]
    flips = rng.random((copy.size, 32)) < 0.05
    mask = (flips * (np.uint64(1) << np.arange(32, dtype=np.uint64))).sum(axis=1)
    return copy ^ mask.astype(np.uint32)


def bench_lookup(
    size: int, real: dict[str, np.ndarray], n_queries: int
) -> dict[str, float]:
    """Build a catalog of ``size`` tracks (the real ones included) and time lookups in it."""
    rng = np.random.default_rng(size)
    pseudo = pseudo_fingerprints(size - len(real), seed=size)
    rss_before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    index = FingerprintIndex()
    index.add_many(real.items())
    index.add_many((f"P{i:06d}", fp) for i, fp in enumerate(pseudo))
    index.match(pseudo[0][:50])  # files everything into its segment
    build_s = time.perf_counter() - start
    held = index.nbytes
    rss = psutil.Process().memory_info().rss - rss_before

    members = rng.choice(len(pseudo), n_queries // 2, replace=False)
    queries = [(noisy_copy(pseudo[i], rng), f"P{i:06d}") for i in members]
    unknown = pseudo_fingerprints(n_queries - len(queries), seed=size + 1)
    queries += [(fp, None) for fp in unknown]
    times, correct = [], 0
    for query, expected in queries:
        t0 = time.perf_counter()
        matches = index.match(query)
        times.append(time.perf_counter() - t0)
        top = matches[0].track_id if matches else None
        correct += top == expected
    start = time.perf_counter()
    stored = index.to_bytes()
    save_s = time.perf_counter() - start
    start = time.perf_counter()
    FingerprintIndex.from_bytes(stored).match(pseudo[0][:50])
    load_s = time.perf_counter() - start
    return {
        "tracks": len(index),
        "build_s": build_s,
        "held_mb": held / 1e6,
        "rss_mb": rss / 1e6,
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * float(np.percentile(times, 95)),
        "accuracy": correct / len(queries),
        "stored_mb": len(stored) / 1e6,
        "save_s": save_s,
        "load_s": load_s,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: 1k and 10k catalogs")
    parser.add_argument("--queries", type=int, default=200, help="lookups per catalog size")
    args = parser.parse_args(argv)
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    n_good = 6 if args.quick else 24

    folder = Path(tempfile.mkdtemp(prefix="cw-ingestion-bench-"))
    try:
        print(f"generating {n_good} good and 11 bad uploads in {folder} ...")
        good, bad = make_files(folder, n_good)
        wall, per_s, realtime, reasons = bench_validation(good + bad)
        print("\nvalidation (one core, files one after another)")
        print(f"  {len(good) + len(bad)} files in {wall:.2f} s: {per_s:.1f} files/s, "
              f"{realtime:.0f}x real time")  # fmt: skip
        print(f"  verdicts: {dict(sorted(reasons.items()))}")

        start = time.perf_counter()
        real = {path.stem: fingerprint(path) for path in good}
        fp_s = (time.perf_counter() - start) / len(good)
        index = FingerprintIndex()
        index.add_many(real.items())
        copy = folder / "copy.mp3"
        encode_pcm(_music(0, 40.0)[int(2.5 * SR) :] * 0.6, SR, copy, "mp3", bitrate_kbps=128)
        start = time.perf_counter()
        found = find_matches(index, copy)
        lookup_s = time.perf_counter() - start
        print(f"\nfingerprinting: {fp_s * 1000:.0f} ms per 40 s file; a file lookup "
              f"(two phases) {lookup_s * 1000:.0f} ms, found {found[:1]}")  # fmt: skip

        print(f"\nlookup ({args.queries} queries per size: half noisy trimmed copies, "
              f"half unknown songs; {len(real)} real fingerprints in each catalog)")  # fmt: skip
        header = (
            f"  {'tracks':>8} {'build s':>8} {'index MB':>9} {'RSS MB':>8} {'median ms':>10} "
            f"{'p95 ms':>8} {'correct':>8} {'stored MB':>10} {'load s':>7}"
        )
        print(header)
        for size in sizes:
            r = bench_lookup(size, real, args.queries)
            print(
                f"  {r['tracks']:>8,} {r['build_s']:>8.2f} {r['held_mb']:>9.0f} "
                f"{r['rss_mb']:>8.0f} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} "
                f"{r['accuracy']:>8.1%} {r['stored_mb']:>10.0f} {r['load_s']:>7.2f}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
