"""Benchmark: track feature extraction, Essentia path vs the full extractor vs librosa only.

For ``--tracks`` synthetic songs of ``--minutes`` each, encoded to FLAC, it times
per track, in the same run and on the same files:

- (a) ``essentia``: :func:`audio.features.extract_features` with
  ``second_opinion=False``: decode + the Essentia path (the platform's budget
  is 40x real time on one core);
- (b) ``full``: the same call with the librosa second opinion (the default);
- (c) ``librosa-only``: decode + the same outputs computed with librosa alone
  (tempo/beats via ``beat_track``, key via chroma profiles, MFCC, chroma,
  centroid, flatness, RMS, onsets), at librosa's customary 22.05 kHz;

and then (d) the whole batch through a 2-process pool against one process.

(a)-(c) run pinned to one CPU (``sched_setaffinity``, inherited by ffmpeg) with
BLAS/OpenMP threads at 1, so "x real time" means per core; (d) uses two CPUs.
Every figure is the median of ``--repeats`` runs, cases taking turns; imports
and numba compilation are paid by an untimed warm-up and reported apart.

    .venv/bin/python benchmarks/features.py                  # 3 tracks of 4 minutes
    .venv/bin/python benchmarks/features.py --tracks 1 --minutes 1 --repeats 1   # quick look
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy/numba load: one core means one core

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from audio.features import extract_features, krumhansl_key  # noqa: E402
from audio.ffmpeg import decode_pcm, encode_pcm  # noqa: E402
from audio.synth import STYLES, TrackSpec, synthesize  # noqa: E402

SR = 44100


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the librosa-only extractor


def librosa_only(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The platform's outputs computed with librosa alone, for comparison.

    Decoding is the same as the platform's (ffmpeg, 44.1 kHz, channels
    averaged); everything after it is librosa at 22.05 kHz, hop 512.
    """
    import librosa

    pcm, rate = decode_pcm(path, sample_rate=SR)
    y = librosa.resample(pcm.mean(axis=1), orig_sr=rate, target_sr=22050, res_type="soxr_hq")
    sr = 22050
    envelope = librosa.onset.onset_strength(y=y, sr=sr)
    tempo, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, units="time")
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    key, strength = krumhansl_key(chroma.mean(axis=1))
    spectrum = np.abs(librosa.stft(y))
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=spectrum**2, sr=sr)), n_mfcc=13)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, units="time")
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    return {
        "bpm": float(np.atleast_1d(tempo)[0]),
        "beats_s": beats.tolist(),
        "key_label": key,
        "key_strength": strength,
        "loudness_db": 20.0 * np.log10(max(rms, 1e-6)),
        "onset_rate": len(onsets) / (len(y) / sr),
        "spectral_centroid_hz": float(librosa.feature.spectral_centroid(S=spectrum, sr=sr).mean()),
        "spectral_flatness": float(librosa.feature.spectral_flatness(S=spectrum).mean()),
        "mfcc_mean": mfcc.mean(axis=1).tolist(),
        "mfcc_std": mfcc.std(axis=1).tolist(),
        "chroma_mean": chroma.mean(axis=1).tolist(),
        "chroma_std": chroma.std(axis=1).tolist(),
    }


CASES: dict[str, Callable[[Path], object]] = {
    "essentia": lambda p: extract_features(p, second_opinion=False),
    "full": lambda p: extract_features(p),
    "librosa-only": librosa_only,
}


# --------------------------------------------------------------------------- measurement


def _cpu_seconds() -> float:
    """CPU of this process and its (waited-for) children, i.e. ffmpeg included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    return wall, (_cpu_seconds() - cpu0) / wall


def _make_tracks(folder: Path, count: int, minutes: float) -> list[tuple[Path, float]]:
    """Varied 4-minute songs (style, tempo, key, mode) as FLAC files."""
    tracks = []
    for i in range(count):
        spec = TrackSpec(
            bpm=[96.0, 124.0, 142.0, 76.0, 110.0][i % 5], tonic=(2 + 7 * i) % 12,
            mode="minor" if i % 2 else "major", duration_s=minutes * 60.0,
            style=STYLES[(3 * i + 1) % len(STYLES)], seed=500 + i,
        )
        _log(f"synthesizing {spec.style} {spec.bpm:g} BPM, {minutes:g} min")
        path = folder / f"track{i}.flac"
        encode_pcm(synthesize(spec, SR), SR, path, "flac")
        tracks.append((path, spec.duration_s))
    return tracks


def _warm_up(folder: Path) -> dict[str, float]:
    """Pay imports and numba compilation outside the timings; return what they cost."""
    clip = folder / "warmup.flac"
    spec = TrackSpec(bpm=120.0, tonic=0, mode="major", duration_s=12.0, style="pop", seed=1)
    encode_pcm(synthesize(spec, SR), SR, clip, "flac")
    costs = {}
    for name, run in CASES.items():
        t0 = time.perf_counter()
        run(clip)
        costs[name] = time.perf_counter() - t0
    return costs


def _per_track(tracks: list[tuple[Path, float]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    """Median (wall s, cores busy) per case per track, cases taking turns."""
    samples: dict[str, list[list[tuple[float, float]]]] = {
        name: [[] for _ in tracks] for name in CASES
    }
    for r in range(repeats):
        for t, (path, _) in enumerate(tracks):
            for name, run in CASES.items():
                wall, cores = _timed(lambda: run(path))
                samples[name][t].append((wall, cores))
                _log(f"repeat {r + 1}/{repeats} track {t}: {name} {wall:.2f} s")
    return {
        name: [
            (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
            for runs in per_track
        ]
        for name, per_track in samples.items()
    }


def _pool_init(warm_clip: str) -> None:
    extract_features(warm_clip)  # imports + numba compilation once per worker


def _batch(tracks: list[tuple[Path, float]], warm_clip: Path, repeats: int) -> tuple[float, float]:
    """Median wall seconds for the whole batch (full extractor): one process, then 2 workers."""
    paths = [str(p) for p, _ in tracks]
    one, two = [], []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context, initializer=_pool_init, initargs=(str(warm_clip),)) as pool:
        list(pool.map(abs, [0, 0]))  # both workers started (and warmed by the initializer)
        for r in range(repeats):
            t0 = time.perf_counter()
            for p in paths:
                extract_features(p)
            one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            list(pool.map(extract_features, paths))
            two.append(time.perf_counter() - t0)
            _log(f"repeat {r + 1}/{repeats} batch: 1 process {one[-1]:.1f} s, pool {two[-1]:.1f} s")
    return statistics.median(one), statistics.median(two)


# --------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    all_cpus = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="cw-features-") as tmp:
        folder = Path(tmp)
        tracks = _make_tracks(folder, args.tracks, args.minutes)
        os.sched_setaffinity(0, {min(all_cpus)})
        _log("warming up (imports, numba compilation)")
        warm = _warm_up(folder)
        results = _per_track(tracks, args.repeats)
        os.sched_setaffinity(0, all_cpus)
        batch = _batch(tracks, folder / "warmup.flac", args.repeats) if len(all_cpus) >= 2 else None

    print(f"\n{args.tracks} tracks x {args.minutes:g} min, median of {args.repeats}; one CPU for (a)-(c)")
    print("first call (imports, numba): " + ", ".join(f"{k} {v:.1f} s" for k, v in warm.items()))
    print(f"\n{'track':>5} {'case':<14} {'seconds':>8} {'x real time':>12} {'cores busy':>11}")
    for t, (_, duration) in enumerate(tracks):
        for name in CASES:
            wall, cores = results[name][t]
            print(f"{t:>5} {name:<14} {wall:>8.2f} {duration / wall:>12.1f} {cores:>11.2f}")
    total = sum(d for _, d in tracks)
    sums = {name: sum(w for w, _ in results[name]) for name in CASES}
    print()
    for name, label in (("essentia", "(a) Essentia path"), ("full", "(b) full extractor"),
                        ("librosa-only", "(c) librosa only")):
        print(f"{label:<22} {sums[name] / len(tracks):6.2f} s/track  {total / sums[name]:6.1f}x real time")
    print(f"(c)/(a) time ratio     {sums['librosa-only'] / sums['essentia']:6.2f}")
    print(f"(b)/(a) time ratio     {sums['full'] / sums['essentia']:6.2f}")
    if batch is None:
        print("(d) skipped: fewer than 2 CPUs available")
    else:
        one, two = batch
        print(f"(d) batch of {len(tracks)}, full extractor: 1 process {one:.1f} s "
              f"({total / one:.1f}x RT), 2-process pool {two:.1f} s ({total / two:.1f}x RT), "
              f"speed-up {one / two:.2f}")


if __name__ == "__main__":
    main()
