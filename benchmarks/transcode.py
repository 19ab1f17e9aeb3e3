"""Benchmark: the HLS ladder against the bare ffmpeg command, and the analysis outputs.

For a 4-minute stereo track of synthetic music (drums, bass, chords, lead), it
times, in the same run and on the same file:

- ``single <n>k``: one AAC encode alone, for each rung (the slowest bounds the ladder);
- ``bare ladder``: the one-process ffmpeg command our ladder runs (one decode,
  one encoder and HLS muxer per rendition), run bare: no measurement, no
  playlist rewriting, no encryption;
- ``bare var_stream_map``: the textbook one-muxer form of the same ladder;
- ``ladder`` and ``ladder+AES``: :func:`audio.hls.make_ladder`, i.e. the bare
  command plus measuring every segment, writing the playlists and (second) encrypting;
- loudness, waveform and preview (the other per-track assets) as a separate figure.

Each figure is the median of ``--repeats`` runs (cases take turns); CPU use is children's user+sys
time over wall time (2.0 = both cores busy the whole time).

    .venv/bin/python benchmarks/transcode.py               # 4-minute track, 3 repeats
    .venv/bin/python benchmarks/transcode.py --minutes 1 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audio.ffmpeg import encode_pcm, ffmpeg_binary  # noqa: E402
from audio.hls import Encryption, Ladder, ladder_command, make_ladder  # noqa: E402
from audio.hls_crypto import new_key  # noqa: E402
from audio.synth import TrackSpec, synthesize  # noqa: E402
from audio.transcode import analysis_pcm, make_loudness, make_preview, make_waveform  # noqa: E402

SEED_TABLE_MB = {64: 1.9, 128: 3.8, 256: 7.5}  # the product seed's sizes for a 4-minute track


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(run: Callable[[Path], object]) -> tuple[float, float]:
    """Wall seconds and cores busy (children's CPU / wall) of one fresh run."""
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
        cpu0, t0 = _children_cpu(), time.perf_counter()
        run(Path(tmp) / "out")
        wall = time.perf_counter() - t0
    return wall, (_children_cpu() - cpu0) / wall


def _timed_round_robin(cases: list[tuple[str, Callable[[Path], object]]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and mean cores per case; cases take turns so drift on a shared machine hits all alike."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
    for repeat in range(1, repeats + 1):
        for name, run in cases:
            print(f"round {repeat}/{repeats}: {name} ...", file=sys.stderr, flush=True)
            samples[name].append(_once(run))
    return {name: (statistics.median(w for w, _ in runs), statistics.mean(c for _, c in runs))
            for name, runs in samples.items()}  # fmt: skip


def _bare(command_for: Callable[[Path], list[str]]) -> Callable[[Path], None]:
    def run(out: Path) -> None:
        command = command_for(out)
        subprocess.run(command, check=True, capture_output=True)

    return run


def _bare_ladder(source: Path, ladder: Ladder) -> Callable[[Path], list[str]]:
    def command(out: Path) -> list[str]:
        for r in ladder.renditions:
            (out / r.name).mkdir(parents=True, exist_ok=True)
        return ladder_command(ffmpeg_binary(), str(source), str(out), ladder)

    return command


def _var_stream_map(source: Path, ladder: Ladder) -> Callable[[Path], list[str]]:
    def command(out: Path) -> list[str]:
        out.mkdir(parents=True)
        args = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)]
        for _ in ladder.renditions:
            args += ["-map", "0:a:0"]
        for i, r in enumerate(ladder.renditions):
            args += [f"-c:a:{i}", "aac", f"-b:a:{i}", f"{r.bitrate_kbps}k"]
        names = " ".join(f"a:{i},name:{r.name}" for i, r in enumerate(ladder.renditions))
        args += ["-ar", "44100", "-ac", "2", "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod",
                 "-hls_segment_type", "fmp4", "-hls_segment_filename", str(out / "%v" / "seg%05d.m4s"),
                 "-master_pl_name", "master.m3u8", "-var_stream_map", names, str(out / "%v" / "index.m3u8")]  # fmt: skip
        return args

    return command


def _single(source: Path, kbps: int) -> Callable[[Path], list[str]]:
    def command(out: Path) -> list[str]:
        out.mkdir(parents=True)
        return [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
                "-c:a", "aac", "-b:a", f"{kbps}k", "-ar", "44100", "-ac", "2", str(out / "x.m4a")]  # fmt: skip

    return command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0, help="track length (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is printed")
    args = parser.parse_args()
    seconds = args.minutes * 60
    ladder = Ladder.standard()
    print(f"# HLS ladder benchmark: {args.minutes:g}-minute stereo track, {os.cpu_count()} cores, "
          f"{args.repeats} repeat(s), ffmpeg {ffmpeg_binary()}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cw-bench-src-") as tmp:
        source = Path(tmp) / "track.flac"
        print("synthesizing the source track ...", file=sys.stderr, flush=True)
        spec = TrackSpec(bpm=118, tonic=2, mode="minor", duration_s=seconds, style="afrobeats", seed=3)
        encode_pcm(synthesize(spec), 44100, source, "flac")
        key = new_key()
        cases: list[tuple[str, Callable[[Path], object]]] = [
            *[(f"single {b}k", _bare(_single(source, b))) for b in (64, 128, 256)],
            ("bare ladder", _bare(_bare_ladder(source, ladder))),
            ("bare var_stream_map", _bare(_var_stream_map(source, ladder))),
            ("ladder", lambda out: make_ladder(source, out, ladder)),
            ("ladder+AES", lambda out: make_ladder(source, out, ladder, encryption=Encryption(key, "/k"))),
        ]
        results = _timed_round_robin(cases, args.repeats)
        analysis = _analysis_time(source, args.repeats)
        sizes = _sizes(source, ladder)
    print(f"\n{'case':<22}{'wall s':>9}{'x realtime':>12}{'cores busy':>12}")
    for name, (wall, cores) in results.items():
        print(f"{name:<22}{wall:>9.2f}{seconds / wall:>12.1f}{cores:>12.2f}")
    bare = results["bare ladder"][0]
    slowest = max(results[f"single {b}k"][0] for b in (64, 128, 256))
    print(f"\nladder / bare ladder:              {results['ladder'][0] / bare:.3f}  (target <= 1.15)")
    print(f"ladder+AES / bare ladder:          {results['ladder+AES'][0] / bare:.3f}")
    print(f"bare var_stream_map / bare ladder: {results['bare var_stream_map'][0] / bare:.3f}")
    print(f"ladder / slowest single encode:    {results['ladder'][0] / slowest:.3f}  "
          f"(slowest single = {seconds / slowest:.1f}x real time)")  # fmt: skip
    print(f"\nloudness + waveform + preview: {analysis:.2f} s  ({seconds / analysis:.1f}x real time, one core)")
    print(f"\n{'rendition':<10}{'MB':>8}{'seed MB':>9}{'avg kbps':>10}{'peak kbps':>11}")
    for rendition in sizes:
        target = rendition.target_kbps
        seed = SEED_TABLE_MB.get(target, 0) * seconds / 240
        print(f"{rendition.name:<10}{rendition.size_bytes / 1e6:>8.2f}{seed:>9.2f}"
              f"{rendition.average_bitrate_bps / 1000:>10.1f}{rendition.peak_bitrate_bps / 1000:>11.1f}")  # fmt: skip
    return 0


def _analysis_time(source: Path, repeats: int) -> float:
    def run(out: Path) -> None:
        make_loudness(source, out / "loudness")
        pcm, rate = analysis_pcm(source)
        make_waveform(pcm, rate, out / "waveform")
        make_preview(source, pcm, rate, out / "preview")

    print("timing loudness + waveform + preview ...", file=sys.stderr, flush=True)
    walls = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
            t0 = time.perf_counter()
            run(Path(tmp))
            walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def _sizes(source: Path, ladder: Ladder):
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
        return make_ladder(source, Path(tmp) / "out", ladder).renditions


if __name__ == "__main__":
    raise SystemExit(main())
