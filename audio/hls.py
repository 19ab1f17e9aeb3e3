"""The HLS ladder: one ffmpeg job per track, then playlists we write and measure ourselves.

ffmpeg decodes the source once and feeds one AAC (or FLAC) encoder per
rendition. Each rendition gets its own HLS muxer in the same process rather
than one muxer with ``-var_stream_map``: ffmpeg 7+ runs every output in its own
thread, and separate muxers do not make the fast encoders wait for the slowest
one to interleave, so both cores stay busy (the var_stream_map form measured
about 1.4x slower here; see ``benchmarks/transcode.py``).

ffmpeg's own playlists are only an intermediate: the playlists we publish are
written here from the segments actually on disk, so that

- BANDWIDTH is RFC 8216's peak segment bit rate (largest bit rate over any
  run of segments lasting 0.5 to 1.5 target durations), measured, not the
  nominal figure older ffmpeg builds write;
- AVERAGE-BANDWIDTH, CODECS and EXT-X-INDEPENDENT-SEGMENTS (which ffmpeg omits
  for audio-only output) are always present;
- AES-128 encryption (see :mod:`audio.hls_crypto`) is applied to the fMP4
  segments before the playlists are written, with the key URI of the serving
  layer's key endpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import m3u8
import numpy as np

from audio.ffmpeg import FFmpegError, decode_pcm, ffmpeg_binary, run_ffmpeg
from audio.hls_crypto import decrypt_segment, encrypt_segment

__all__ = [
    "Rendition",
    "Ladder",
    "Encryption",
    "SegmentInfo",
    "RenditionResult",
    "LadderResult",
    "ladder_command",
    "make_ladder",
    "peak_bitrate_bps",
    "average_bitrate_bps",
    "check_hls",
    "decode_rendition",
    "segment_boundaries",
    "MASTER_PLAYLIST",
    "MEDIA_PLAYLIST",
]

MASTER_PLAYLIST = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"
_FFMPEG_PLAYLIST = "ffmpeg.m3u8"
_SEGMENT_PATTERN = "seg%05d.m4s"
_HLS_VERSION = 7  # EXT-X-MAP in a playlist without I-frames needs 6; 7 allows SERVICE/KEYFORMAT use
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_CODECS = {"aac": "mp4a.40.2", "flac": "fLaC"}
# AAC's frame is 1024 samples; FLAC is told to use the same, so both codecs cut
# segments at the same sample and a player can switch between any of them.
_FRAME_SAMPLES = 1024
_ALIGNMENT_TOLERANCE_S = 0.001


@dataclass(frozen=True)
class Rendition:
    """One rung of the ladder: AAC-LC at a bit rate, or lossless FLAC."""

    name: str
    codec: Literal["aac", "flac"]
    bitrate_kbps: int | None = None
    sample_rate: int = 44100
    channels: int = 2

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"rendition name {self.name!r} must be lowercase letters, digits and '-'")
        if self.codec not in _CODECS:
            raise ValueError(f"rendition codec must be one of {sorted(_CODECS)}, got {self.codec!r}")
        if self.codec == "aac" and not (self.bitrate_kbps and 16 <= self.bitrate_kbps <= 512):
            raise ValueError(f"AAC rendition {self.name!r} needs a bit rate of 16..512 kbps, got {self.bitrate_kbps}")
        if self.codec == "flac" and self.bitrate_kbps is not None:
            raise ValueError(f"FLAC rendition {self.name!r} is lossless: it takes no bit rate")
        if self.sample_rate not in (44100, 48000):
            raise ValueError(f"rendition sample rate must be 44100 or 48000, got {self.sample_rate}")
        if self.channels not in (1, 2):
            raise ValueError(f"rendition channels must be 1 or 2, got {self.channels}")

    @property
    def codecs(self) -> str:
        """The RFC 6381 codec string players read from the master playlist."""
        return _CODECS[self.codec]

    def encoder_args(self) -> list[str]:
        args = ["-ar", str(self.sample_rate), "-ac", str(self.channels)]
        if self.codec == "aac":
            return ["-c:a", "aac", "-profile:a", "aac_low", "-b:a", f"{self.bitrate_kbps}k", *args]
        return ["-c:a", "flac", "-sample_fmt", "s16", "-frame_size", str(_FRAME_SAMPLES), *args]


@dataclass(frozen=True)
class Ladder:
    """The renditions every track gets, and the segment length they share."""

    renditions: tuple[Rendition, ...]
    segment_s: float = 6.0

    def __post_init__(self) -> None:
        if not self.renditions:
            raise ValueError("a ladder needs at least one rendition")
        names = [r.name for r in self.renditions]
        if len(set(names)) != len(names):
            raise ValueError(f"rendition names must be unique, got {names}")
        if not 1.0 <= self.segment_s <= 30.0:
            raise ValueError(f"segment length must be 1..30 s, got {self.segment_s}")

    @classmethod
    def standard(
        cls, bitrates_kbps: Sequence[int] = (64, 128, 256), *, lossless: bool = False, segment_s: float = 6.0
    ) -> Ladder:
        """AAC-LC stereo 44.1 kHz at each bit rate, plus FLAC when the lossless tier is on."""
        if len(set(bitrates_kbps)) != len(bitrates_kbps):
            raise ValueError(f"ladder bit rates must be distinct, got {list(bitrates_kbps)}")
        renditions = [Rendition(f"aac-{b}k", "aac", int(b)) for b in sorted(bitrates_kbps)]
        if lossless:
            renditions.append(Rendition("flac", "flac"))
        return cls(tuple(renditions), segment_s)

    def fingerprint(self) -> str:
        """A short hash of everything that changes the bytes written (part of a build's identity)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, repr=False)
class Encryption:
    """The content key of one track version and where players fetch it."""

    key: bytes
    key_uri: str

    def __post_init__(self) -> None:
        if len(self.key) != 16:
            raise ValueError(f"an AES-128 key is 16 bytes, got {len(self.key)}")
        if not self.key_uri or '"' in self.key_uri or "\n" in self.key_uri:
            raise ValueError(f"key URI {self.key_uri!r} cannot go into a playlist attribute")

    def __repr__(self) -> str:  # never print the key itself
        return f"Encryption(key_uri={self.key_uri!r})"


@dataclass(frozen=True)
class SegmentInfo:
    uri: str
    duration_s: float
    size_bytes: int


@dataclass(frozen=True)
class RenditionResult:
    """What was written for one rendition, measured from the files themselves."""

    name: str
    codec: str
    codecs: str
    target_kbps: int | None
    init_uri: str
    init_size_bytes: int
    segments: tuple[SegmentInfo, ...]
    average_bitrate_bps: int
    peak_bitrate_bps: int
    target_duration_s: int

    @property
    def size_bytes(self) -> int:
        return self.init_size_bytes + sum(s.size_bytes for s in self.segments)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def summary(self) -> dict[str, object]:
        """The per-rendition figures stored in the warehouse."""
        return {
            "rendition": self.name,
            "codec": self.codec,
            "codecs": self.codecs,
            "target_kbps": self.target_kbps,
            "average_bitrate_bps": self.average_bitrate_bps,
            "peak_bitrate_bps": self.peak_bitrate_bps,
            "size_bytes": self.size_bytes,
            "duration_s": round(self.duration_s, 6),
            "segments": len(self.segments),
            "playlist": f"{self.name}/{MEDIA_PLAYLIST}",
        }


@dataclass(frozen=True)
class LadderResult:
    renditions: tuple[RenditionResult, ...]
    encrypted: bool
    key_uri: str | None
    ffmpeg_wall_s: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "master": MASTER_PLAYLIST,
            "encrypted": self.encrypted,
            "key_uri": self.key_uri,
            "renditions": [r.summary() for r in self.renditions],
        }


# --------------------------------------------------------------------------- running ffmpeg


def ladder_command(binary: str, source: str, outdir: str, ladder: Ladder) -> list[str]:
    """One ffmpeg process: decode once, one encoder and one HLS muxer per rendition."""
    command = [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", source]
    for rendition in ladder.renditions:
        folder = os.path.join(outdir, rendition.name)
        command += ["-map", "0:a:0", *rendition.encoder_args()]
        command += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        command += [
            "-f", "hls", "-hls_time", f"{ladder.segment_s:g}", "-hls_playlist_type", "vod",
            "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", INIT_SEGMENT,
            "-hls_segment_filename", os.path.join(folder, _SEGMENT_PATTERN),
            os.path.join(folder, _FFMPEG_PLAYLIST),
        ]  # fmt: skip
    return command


def _run_ffmpeg(command: list[str], source: str) -> float:
    """Run the ladder's ffmpeg; returns its wall time in seconds."""
    started = time.perf_counter()
    run_ffmpeg(command, what=f"transcode {source} to HLS")
    return time.perf_counter() - started


def make_ladder(
    source: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    ladder: Ladder,
    *,
    encryption: Encryption | None = None,
    ffmpeg_path: str | None = None,
) -> LadderResult:
    """Transcode ``source`` into an HLS VOD ladder in ``outdir`` (which must be empty).

    ``outdir`` is meant to be a private work folder: segments are encrypted in
    place after ffmpeg writes them, so only the finished folder may be published.
    """
    src = os.fspath(source)
    if not Path(src).is_file():
        raise FFmpegError(f"cannot transcode {src!r}: no such file")
    out = Path(outdir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"HLS output folder {out} is not empty; use a fresh work folder")
    for rendition in ladder.renditions:
        (out / rendition.name).mkdir(parents=True, exist_ok=True)
    wall = _run_ffmpeg(ladder_command(ffmpeg_binary(ffmpeg_path), src, str(out), ladder), src)
    results = []
    for rendition in ladder.renditions:
        folder = out / rendition.name
        segments, init_uri = _read_ffmpeg_playlist(folder)
        if encryption is not None:
            _encrypt_in_place(folder, segments, encryption.key)
        results.append(_measure(rendition, folder, segments, init_uri, ladder.segment_s))
        (folder / _FFMPEG_PLAYLIST).unlink()
    _check_aligned([r.segments for r in results], [r.name for r in results])
    for result in results:
        _write_text(out / result.name / MEDIA_PLAYLIST, media_playlist(result, encryption))
    _write_text(out / MASTER_PLAYLIST, master_playlist(results))
    return LadderResult(tuple(results), encryption is not None, encryption.key_uri if encryption else None, wall)


def _read_ffmpeg_playlist(folder: Path) -> tuple[list[tuple[str, float]], str]:
    playlist = m3u8.load(str(folder / _FFMPEG_PLAYLIST))
    if not playlist.segments:
        raise FFmpegError(f"ffmpeg wrote no HLS segments in {folder}")
    init = playlist.segments[0].init_section
    if init is None or not init.uri:
        raise FFmpegError(f"ffmpeg wrote no fMP4 initialisation section in {folder}")
    return [(s.uri, float(s.duration)) for s in playlist.segments], init.uri


def _encrypt_in_place(folder: Path, segments: list[tuple[str, float]], key: bytes) -> None:
    for sequence, (uri, _) in enumerate(segments):
        path = folder / uri
        path.write_bytes(encrypt_segment(path.read_bytes(), key, sequence))


def _measure(
    rendition: Rendition, folder: Path, segments: list[tuple[str, float]], init_uri: str, segment_s: float
) -> RenditionResult:
    infos = tuple(SegmentInfo(uri, duration, (folder / uri).stat().st_size) for uri, duration in segments)
    target = target_duration_s(infos)
    return RenditionResult(
        name=rendition.name,
        codec=rendition.codec,
        codecs=rendition.codecs,
        target_kbps=rendition.bitrate_kbps,
        init_uri=init_uri,
        init_size_bytes=(folder / init_uri).stat().st_size,
        segments=infos,
        average_bitrate_bps=average_bitrate_bps(infos),
        peak_bitrate_bps=peak_bitrate_bps(infos, target),
        target_duration_s=target,
    )


# --------------------------------------------------------------------------- RFC 8216 figures


def target_duration_s(segments: Sequence[SegmentInfo]) -> int:
    """EXT-X-TARGETDURATION: every EXTINF, rounded to the nearest integer, must not exceed it."""
    return max(1, max(int(math.floor(s.duration_s + 0.5)) for s in segments))


def average_bitrate_bps(segments: Sequence[SegmentInfo]) -> int:
    """AVERAGE-BANDWIDTH: total segment bits over total duration, rounded up."""
    total = sum(s.duration_s for s in segments)
    if total <= 0:
        raise ValueError("segments have no duration")
    return math.ceil(sum(s.size_bytes for s in segments) * 8 / total)


def peak_bitrate_bps(segments: Sequence[SegmentInfo], target_s: float) -> int:
    """BANDWIDTH per RFC 8216 4.3.4.2: the largest bit rate of any contiguous run of
    segments whose total duration is between 0.5 and 1.5 target durations.

    A track too short for any such run (under half a target duration) has only
    one possible run, itself, so its average is its peak.
    """
    durations = np.array([s.duration_s for s in segments], dtype=float)
    sizes = np.array([s.size_bytes for s in segments], dtype=float)
    cum_d = np.concatenate([[0.0], np.cumsum(durations)])
    cum_b = np.concatenate([[0.0], np.cumsum(sizes)])
    low, high = 0.5 * target_s - 1e-9, 1.5 * target_s + 1e-9
    best = 0.0
    n = len(segments)
    for start in range(n):
        span = cum_d[start + 1 :] - cum_d[start]
        bits = (cum_b[start + 1 :] - cum_b[start]) * 8
        ok = (span >= low) & (span <= high)
        if ok.any():
            best = max(best, float((bits[ok] / span[ok]).max()))
    if best == 0.0:
        return average_bitrate_bps(segments)
    return math.ceil(best)


def segment_boundaries(segments: Sequence[SegmentInfo]) -> list[float]:
    """Start times of every segment after the first: where a player may switch."""
    return [float(x) for x in np.cumsum([s.duration_s for s in segments])[:-1]]


def _check_aligned(per_rendition: Sequence[Sequence[SegmentInfo]], names: Sequence[str]) -> None:
    problems = _alignment_problems(per_rendition, names)
    if problems:
        raise FFmpegError("renditions are not segment-aligned: " + "; ".join(problems))


def _alignment_problems(per_rendition: Sequence[Sequence[SegmentInfo]], names: Sequence[str]) -> list[str]:
    reference = segment_boundaries(per_rendition[0])
    problems = []
    for name, segments in zip(names[1:], per_rendition[1:]):
        bounds = segment_boundaries(segments)
        if len(bounds) != len(reference):
            problems.append(f"{name} has {len(bounds) + 1} segments, {names[0]} has {len(reference) + 1}")
        elif reference and not _same_cuts(reference, bounds):
            problems.append(f"{name} cuts its segments at other times than {names[0]}")
    return problems


# --------------------------------------------------------------------------- playlists


def _same_cuts(reference: Sequence[float], bounds: Sequence[float]) -> bool:
    """Equal cut points; the last may differ by up to one frame, because AAC pads its
    final frame while FLAC ends on a short one (the audio itself ends at the same sample)."""
    inner = all(abs(a - b) <= _ALIGNMENT_TOLERANCE_S for a, b in zip(reference[:-1], bounds[:-1]))
    return inner and abs(reference[-1] - bounds[-1]) <= _FRAME_SAMPLES / 44100 + _ALIGNMENT_TOLERANCE_S


def media_playlist(result: RenditionResult, encryption: Encryption | None) -> str:
    """A VOD media playlist. EXT-X-MAP comes before EXT-X-KEY so the init section stays clear."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{_HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{result.target_duration_s}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{result.init_uri}"',
    ]
    if encryption is not None:
        lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="{encryption.key_uri}",KEYFORMAT="identity"')
    for segment in result.segments:
        lines += [f"#EXTINF:{segment.duration_s:.6f},", segment.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(results: Sequence[RenditionResult]) -> str:
    """Every rendition, lowest bit rate first, with measured BANDWIDTH and AVERAGE-BANDWIDTH."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{_HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for result in sorted(results, key=lambda r: r.peak_bitrate_bps):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={result.peak_bitrate_bps},"
            f'AVERAGE-BANDWIDTH={result.average_bitrate_bps},CODECS="{result.codecs}"'
        )
        lines.append(f"{result.name}/{MEDIA_PLAYLIST}")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- checking and decoding


def check_hls(folder: str | os.PathLike[str], *, expect_encrypted: bool | None = None) -> list[str]:
    """Every way the ladder in ``folder`` breaks RFC 8216 or Apple's authoring rules.

    The asset check and the tests share this; an empty list means the ladder is
    fine. Bit rates are recomputed from the segment files on disk.
    """
    root = Path(folder)
    master_path = root / MASTER_PLAYLIST
    if not master_path.is_file():
        return [f"no {MASTER_PLAYLIST} in {root}"]
    master = m3u8.load(str(master_path))
    problems: list[str] = []
    if not master.is_variant or not master.playlists:
        return [f"{MASTER_PLAYLIST} lists no renditions"]
    if not master.is_independent_segments:
        problems.append(f"{MASTER_PLAYLIST} lacks EXT-X-INDEPENDENT-SEGMENTS")
    per_rendition, names = [], []
    for variant in master.playlists:
        info = variant.stream_info
        name = variant.uri.split("/")[0]
        names.append(name)
        if not info.codecs:
            problems.append(f"{variant.uri}: no CODECS")
        if not info.bandwidth or not info.average_bandwidth:
            problems.append(f"{variant.uri}: BANDWIDTH and AVERAGE-BANDWIDTH are both required")
        media_problems, segments = _check_media(root, variant.uri, expect_encrypted)
        problems += media_problems
        per_rendition.append(segments)
        if segments and info.bandwidth:
            target = target_duration_s(segments)
            peak, average = peak_bitrate_bps(segments, target), average_bitrate_bps(segments)
            if info.bandwidth < peak:
                problems.append(f"{variant.uri}: BANDWIDTH {info.bandwidth} is below the measured peak {peak}")
            if info.average_bandwidth and abs(info.average_bandwidth - average) > 0.01 * average:
                problems.append(
                    f"{variant.uri}: AVERAGE-BANDWIDTH {info.average_bandwidth} differs from measured {average}"
                )
    if all(per_rendition):
        problems += _alignment_problems(per_rendition, names)
    return problems


def _check_media(
    root: Path, uri: str, expect_encrypted: bool | None
) -> tuple[list[str], list[SegmentInfo]]:
    path = root / uri
    if not path.is_file():
        return [f"{uri}: playlist file missing"], []
    text = path.read_text(encoding="utf-8")
    playlist = m3u8.loads(text)
    problems = []
    if playlist.playlist_type != "vod":
        problems.append(f"{uri}: EXT-X-PLAYLIST-TYPE is not VOD")
    if not playlist.is_endlist:
        problems.append(f"{uri}: no EXT-X-ENDLIST")
    if not playlist.is_independent_segments:
        problems.append(f"{uri}: no EXT-X-INDEPENDENT-SEGMENTS")
    if (playlist.version or 0) < 6:
        problems.append(f"{uri}: EXT-X-VERSION {playlist.version} is below 6 (fMP4 needs 6)")
    if not playlist.segments:
        return problems + [f"{uri}: no segments"], []
    init = playlist.segments[0].init_section
    if init is None or not init.uri:
        problems.append(f"{uri}: no EXT-X-MAP")
    folder = path.parent
    segments = []
    for segment in playlist.segments:
        file = folder / segment.uri
        if not file.is_file():
            problems.append(f"{uri}: segment {segment.uri} missing")
            continue
        segments.append(SegmentInfo(segment.uri, float(segment.duration), file.stat().st_size))
        if math.floor(float(segment.duration) + 0.5) > (playlist.target_duration or 0):
            problems.append(f"{uri}: {segment.uri} lasts {segment.duration}s, over TARGETDURATION")
    if init is not None and init.uri and not (folder / init.uri).is_file():
        problems.append(f"{uri}: init section {init.uri} missing")
    keys = [k for k in playlist.keys if k is not None]
    if expect_encrypted is True and not keys:
        problems.append(f"{uri}: expected AES-128 encryption, found no EXT-X-KEY")
    if expect_encrypted is False and keys:
        problems.append(f"{uri}: expected clear segments, found EXT-X-KEY")
    for key in keys:
        if key.method != "AES-128" or not key.uri:
            problems.append(f"{uri}: EXT-X-KEY must be METHOD=AES-128 with a URI, got {key.method}")
    if keys and text.find("#EXT-X-MAP") > text.find("#EXT-X-KEY"):
        problems.append(f"{uri}: EXT-X-KEY precedes EXT-X-MAP, so the init section would need its own IV")
    return problems, segments


def decode_rendition(
    folder: str | os.PathLike[str],
    name: str,
    *,
    key: bytes | None = None,
    ffmpeg_path: str | None = None,
) -> tuple[np.ndarray, int]:
    """Decode one rendition back to PCM the way a player would: init section, then
    every segment in order, decrypted with ``key`` when the playlist is encrypted."""
    folder = Path(folder) / name
    playlist = m3u8.load(str(folder / MEDIA_PLAYLIST))
    encrypted = any(k is not None for k in playlist.keys)
    if encrypted and key is None:
        raise ValueError(f"rendition {name} is encrypted: pass its key to decode it")
    init = playlist.segments[0].init_section
    with tempfile.TemporaryDirectory(prefix="cw-hls-decode-") as tmp:
        joined = Path(tmp) / "joined.mp4"
        with joined.open("wb") as out:
            with (folder / init.uri).open("rb") as f:
                shutil.copyfileobj(f, out)
            for sequence, segment in enumerate(playlist.segments):
                data = (folder / segment.uri).read_bytes()
                out.write(decrypt_segment(data, key, sequence) if encrypted else data)
        return decode_pcm(joined, ffmpeg_path=ffmpeg_path)
