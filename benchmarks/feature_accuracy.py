"""Accuracy of tempo and key on a wide synthetic set, with mir_eval.

The small sample world's tracks fall between about 80 and 160 BPM (its few
artists' genres), so its report says little about slow and fast music. This
script synthesizes a set that covers every style three times, tempos spread
evenly over 60-180 BPM, both modes and swing on the swung styles, extracts the
features with the platform's extractor (two processes), and prints the same
report the `feature_accuracy` asset writes: Accuracy1, Accuracy2, the MIREX
weighted key score, by tempo band, with every failure.

    .venv/bin/python benchmarks/feature_accuracy.py                  # 48 tracks of 45 s
    .venv/bin/python benchmarks/feature_accuracy.py --tracks 96 --seconds 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audio.feature_accuracy import evaluate  # noqa: E402
from audio.features import extract_features  # noqa: E402
from audio.ffmpeg import encode_pcm  # noqa: E402
from audio.synth import STYLES, TrackSpec, key_label, synthesize  # noqa: E402

SWUNG = {"jazz": 0.28, "hiphop": 0.18, "rnb": 0.12}


def _specs(n: int, seconds: float) -> list[TrackSpec]:
    tempos = np.linspace(60.0, 180.0, n)
    rng = np.random.default_rng(2026)
    rng.shuffle(tempos)
    specs = []
    for i in range(n):
        style = STYLES[i % len(STYLES)]
        specs.append(TrackSpec(bpm=float(round(tempos[i], 1)), tonic=int(rng.integers(12)),
                               mode="minor" if i % 2 else "major", duration_s=seconds, style=style,
                               seed=900 + i, swing=SWUNG.get(style, 0.0)))  # fmt: skip
    return specs


def _one(args: tuple[int, TrackSpec, str]) -> dict:
    index, spec, folder = args
    path = Path(folder) / f"t{index:03d}.flac"
    encode_pcm(synthesize(spec), 44100, path, "flac")
    features = extract_features(path, second_opinion=False)
    return {"isrc": f"T{index:03d}", "bpm": features.bpm, "key_label": features.key_label}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=45.0)
    args = parser.parse_args()
    specs = _specs(args.tracks, args.seconds)
    truth = [{"isrc": f"T{i:03d}", "bpm": s.bpm, "key": key_label(s.tonic, s.mode)} for i, s in enumerate(specs)]
    started = time.perf_counter()
    estimates = []
    with tempfile.TemporaryDirectory(prefix="cw-accuracy-") as tmp, ProcessPoolExecutor(2) as pool:
        jobs = [(i, s, tmp) for i, s in enumerate(specs)]
        for done, row in enumerate(pool.map(_one, jobs), start=1):
            estimates.append(row)
            if done % 8 == 0 or done == len(jobs):
                print(f"{done}/{len(jobs)} tracks", file=sys.stderr, flush=True)
    report = evaluate(truth, estimates, id_column="isrc")
    print(f"# {args.tracks} synthesized tracks of {args.seconds:g} s, 60-180 BPM, all {len(STYLES)} styles "
          f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
    print(report.to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
