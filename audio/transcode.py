"""Everything a player needs for one track: HLS ladder, loudness, waveform, preview.

Each output has its own function writing into its own folder, so the Dagster
assets (one per output, per track partition) and the CLI's
``congowave audio transcode`` run exactly the same code; the CLI simply calls
all four through :func:`transcode_track`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.ffmpeg import decode_pcm, probe_duration_s
from audio.hls import Encryption, Ladder, LadderResult, check_hls, decode_rendition, make_ladder
from audio.loudness import Loudness, measure_loudness
from audio.preview import PreviewWindow, choose_preview_window, encode_preview
from audio.waveform import render_png, waveform_json_bytes, waveform_peaks

__all__ = [
    "TranscodeOptions",
    "LADDER_FILE",
    "make_renditions",
    "make_loudness",
    "make_waveform",
    "make_preview",
    "analysis_pcm",
    "check_renditions",
    "check_preview",
    "transcode_track",
]

LADDER_FILE = "ladder.json"
LOUDNESS_FILE = "loudness.json"
WAVEFORM_FILE = "waveform.json"
WAVEFORM_PNG = "waveform.png"
PREVIEW_FILE = "preview.m4a"
PREVIEW_INFO = "preview.json"
ANALYSIS_RATE = 44100
DURATION_TOLERANCE_S = 0.05
BITRATE_TOLERANCE = 0.15


@dataclass(frozen=True)
class TranscodeOptions:
    """What every track gets; built from the platform settings by the assets and the CLI."""

    ladder: Ladder
    preview_length_s: float = 30.0
    preview_bitrate_kbps: int = 128
    loudness_target_lufs: float = -14.0
    loudness_ceiling_dbtp: float = -1.0
    waveform_pixels: int = 1800
    ffmpeg_path: str | None = None

    def fingerprint(self, kind: str) -> dict[str, object]:
        """The options that decide one kind of output's bytes (part of its build id)."""
        return {
            "hls": {"ladder": self.ladder.fingerprint()},
            "loudness": {"target": self.loudness_target_lufs, "ceiling": self.loudness_ceiling_dbtp},
            "waveform": {"pixels": self.waveform_pixels},
            "preview": {"length": self.preview_length_s, "kbps": self.preview_bitrate_kbps},
        }[kind]


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, sort_keys=True, indent=1) + "\n").encode()


def _fresh_dir(outdir: str | os.PathLike[str]) -> Path:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def make_renditions(
    source: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    ladder: Ladder,
    *,
    encryption: Encryption | None = None,
    ffmpeg_path: str | None = None,
) -> LadderResult:
    """The HLS ladder plus ``ladder.json`` with the measured figures per rendition."""
    result = make_ladder(source, outdir, ladder, encryption=encryption, ffmpeg_path=ffmpeg_path)
    (Path(outdir) / LADDER_FILE).write_bytes(_json_bytes(result.to_json()))
    return result


def make_loudness(
    source: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    target_lufs: float = -14.0,
    ceiling_dbtp: float = -1.0,
    ffmpeg_path: str | None = None,
) -> Loudness:
    """Measure (never change) the master's loudness and the playback gain to store."""
    loudness = measure_loudness(source, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp, ffmpeg_path=ffmpeg_path)
    (_fresh_dir(outdir) / LOUDNESS_FILE).write_bytes(_json_bytes(loudness.to_json()))
    return loudness


def analysis_pcm(source: str | os.PathLike[str], *, ffmpeg_path: str | None = None) -> tuple[np.ndarray, int]:
    """The source decoded once to stereo 44.1 kHz for the waveform and preview choice."""
    return decode_pcm(source, sample_rate=ANALYSIS_RATE, channels=2, ffmpeg_path=ffmpeg_path)


def make_waveform(
    pcm: np.ndarray, sample_rate: int, outdir: str | os.PathLike[str], *, pixels: int = 1800
) -> dict:
    """audiowaveform v2 JSON for peaks.js, and the small PNG shown in the Dagster UI."""
    waveform = waveform_peaks(pcm, sample_rate, pixels=pixels)
    out = _fresh_dir(outdir)
    (out / WAVEFORM_FILE).write_bytes(waveform_json_bytes(waveform))
    (out / WAVEFORM_PNG).write_bytes(render_png(waveform))
    return waveform


def make_preview(
    source: str | os.PathLike[str],
    pcm: np.ndarray,
    sample_rate: int,
    outdir: str | os.PathLike[str],
    *,
    length_s: float = 30.0,
    bitrate_kbps: int = 128,
    ffmpeg_path: str | None = None,
) -> PreviewWindow:
    """The preview clip from the most representative section, and where it starts."""
    window = choose_preview_window(pcm, sample_rate, length_s=length_s)
    out = _fresh_dir(outdir)
    encode_preview(source, out / PREVIEW_FILE, window, bitrate_kbps=bitrate_kbps, ffmpeg_path=ffmpeg_path)
    (out / PREVIEW_INFO).write_bytes(_json_bytes({**window.to_json(), "bitrate_kbps": bitrate_kbps}))
    return window


def check_renditions(
    folder: str | os.PathLike[str],
    *,
    source_duration_s: float,
    key: bytes | None = None,
    music: bool = True,
    ffmpeg_path: str | None = None,
) -> dict[str, list[str]]:
    """Everything the renditions' asset checks ask, as problems per check ([] = good).

    ``playlists``: RFC 8216 and Apple's rules (see :func:`audio.hls.check_hls`);
    ``decode``: every rendition decodes back, the way a player would;
    ``duration``: its length matches the source within 50 ms;
    ``bitrate``: on music its average bit rate is within 15% of the target
    (noise-like content is exempt: encoders legitimately spend more on it).
    """
    found: dict[str, list[str]] = {"playlists": check_hls(folder, expect_encrypted=key is not None),
                                   "decode": [], "duration": [], "bitrate": []}  # fmt: skip
    ladder_path = Path(folder) / LADDER_FILE
    if not ladder_path.is_file():
        found["playlists"].append(f"no {LADDER_FILE} in {folder}")
        return found
    for rendition in json.loads(ladder_path.read_text())["renditions"]:
        name = rendition["rendition"]
        try:
            pcm, rate = decode_rendition(folder, name, key=key, ffmpeg_path=ffmpeg_path)
        except Exception as exc:  # noqa: BLE001 - any failure to decode is the finding
            found["decode"].append(f"{name}: does not decode back: {exc}")
            continue
        for what, seconds in (("decoded", len(pcm) / rate), ("playlist", rendition["duration_s"])):
            if abs(seconds - source_duration_s) > DURATION_TOLERANCE_S:
                found["duration"].append(
                    f"{name}: {what} duration {seconds:.3f}s differs from the source's {source_duration_s:.3f}s "
                    f"by more than {DURATION_TOLERANCE_S * 1000:.0f} ms"
                )
        target = rendition.get("target_kbps")
        if music and target:
            actual = rendition["average_bitrate_bps"] / 1000
            if abs(actual - target) > BITRATE_TOLERANCE * target:
                found["bitrate"].append(f"{name}: average bit rate {actual:.1f} kbps is not within 15% of {target} kbps")
    return found


def check_preview(folder: str | os.PathLike[str], *, source_duration_s: float, ffmpeg_path: str | None = None) -> list[str]:
    """The preview decodes, lasts what preview.json says (within 50 ms) and fits in the track."""
    folder = Path(folder)
    info = json.loads((folder / PREVIEW_INFO).read_text())
    problems = []
    try:
        seconds = probe_duration_s(folder / PREVIEW_FILE, ffmpeg_path=ffmpeg_path)
    except Exception as exc:  # noqa: BLE001 - a preview that does not decode is the finding
        return [f"preview does not decode: {exc}"]
    if abs(seconds - info["duration_s"]) > DURATION_TOLERANCE_S:
        problems.append(f"preview lasts {seconds:.3f}s, expected {info['duration_s']:.3f}s")
    if info["start_s"] < 0 or info["start_s"] + info["duration_s"] > source_duration_s + DURATION_TOLERANCE_S:
        problems.append(f"preview window {info['start_s']}+{info['duration_s']}s is outside the track")
    return problems


def transcode_track(
    source: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    options: TranscodeOptions,
    *,
    encryption: Encryption | None = None,
) -> dict[str, object]:
    """All four outputs into ``outdir/{hls,loudness,waveform,preview}``; returns a summary."""
    out = Path(outdir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"output folder {out} is not empty")
    ffmpeg_path = options.ffmpeg_path
    ladder = make_renditions(source, out / "hls", options.ladder, encryption=encryption, ffmpeg_path=ffmpeg_path)
    loudness = make_loudness(
        source, out / "loudness", target_lufs=options.loudness_target_lufs,
        ceiling_dbtp=options.loudness_ceiling_dbtp, ffmpeg_path=ffmpeg_path,
    )  # fmt: skip
    pcm, rate = analysis_pcm(source, ffmpeg_path=ffmpeg_path)
    waveform = make_waveform(pcm, rate, out / "waveform", pixels=options.waveform_pixels)
    window = make_preview(
        source, pcm, rate, out / "preview", length_s=options.preview_length_s,
        bitrate_kbps=options.preview_bitrate_kbps, ffmpeg_path=ffmpeg_path,
    )  # fmt: skip
    return {
        "source": os.fspath(source),
        "duration_s": round(len(pcm) / rate, 6),
        "hls": ladder.to_json(),
        "loudness": loudness.to_json(),
        "waveform": {"length": waveform["length"], "samples_per_pixel": waveform["samples_per_pixel"]},
        "preview": window.to_json(),
    }
