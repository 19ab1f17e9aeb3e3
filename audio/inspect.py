"""Facts about an uploaded audio file, gathered in one bounded, never-failing pass.

Validation (:mod:`audio.validate`) judges; this module only observes. It reads
three independent witnesses and keeps them apart so a disagreement between
them can be reported rather than papered over:

* the file's own bytes: size, MD5/SHA-256, a magic-number signature, and the
  length its header *declares* (FLAC STREAMINFO, MP3 Xing/Info/VBRI, WAV data
  chunk, AIFF COMM). ffmpeg decodes a file cut off mid-upload without any
  error, so the declared length is the only way to tell it was cut;
* what ffmpeg says on stderr while opening it: demuxer, codec, sample rate,
  its ``Duration:`` line, and the errors the decoder logs while decoding;
* the decoded samples themselves: their count, peak, RMS and how many sit at
  full scale. They are streamed from ffmpeg's stdout in fixed-size chunks and
  summarised on the fly, so a 20-minute file costs the same memory as a
  20-second one.

Nothing here raises on bad audio: an unreadable upload is a fact like any
other (``failure`` says why), and the subprocess runs under a deadline.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from audio.ffmpeg import FFmpegError, ffmpeg_binary

__all__ = ["AudioFacts", "inspect_audio", "CLIP_LEVEL", "MIN_DBFS"]

# A sample at or above this magnitude counts as clipped: -0.01 dBFS, so the
# largest positive 16-bit value (32767/32768) counts, as do the overshoots a
# lossy decoder produces around a hard-clipped master.
CLIP_LEVEL = 0.999
# Level reported for digital silence: finite so facts stay storable as JSON,
# far below the 24-bit noise floor (-144 dBFS) so it never reads as signal.
MIN_DBFS = -200.0

_CHUNK_BYTES = 1 << 20  # 256k float samples per numpy step: ~3 s of stereo 44.1 kHz
_HASH_BLOCK = 1 << 20
_HEAD_BYTES = 64 * 1024  # enough for any audio header once an ID3v2 tag is skipped
_STDERR_KEEP_LINES = 400  # ffmpeg's header lines come first; the rest is counted, not kept


@dataclass(frozen=True)
class AudioFacts:
    """What one inspection found; ``None`` means "could not be determined".

    ``container`` is ffmpeg's demuxer name ("flac", "mov,mp4,m4a,3gp,3g2,mj2")
    and ``codec`` its decoder name for the first audio stream. Durations are in
    seconds: ``declared`` from the file's header, ``decoded`` from counting
    the samples that actually came out. Levels are dBFS of the decoded
    samples; ``clipped_ratio`` is the share of samples at full scale.

    ``signature`` is the format the first bytes claim (independent of ffmpeg,
    so a MIDI file or a cut-off MP4 can still be named); ``decoder_errors``
    counts error lines ffmpeg logged while decoding; ``weak_detection`` is set
    when ffmpeg only guessed the container ("misdetection possible");
    ``failure`` says why no audio could be decoded and is ``None`` otherwise.
    """

    container: str | None
    codec: str | None
    sample_rate: int | None
    channels: int | None
    declared_duration_s: float | None
    decoded_duration_s: float | None
    peak_dbfs: float | None
    rms_dbfs: float | None
    clipped_ratio: float | None
    size_bytes: int
    md5: str
    sha256: str
    signature: str | None = None
    decoder_errors: int = 0
    weak_detection: bool = False
    failure: str | None = None

    @property
    def decodable(self) -> bool:
        """Whether at least one sample of audio came out of the file."""
        return self.failure is None


def inspect_audio(
    path: Path, *, ffmpeg_path: str | None = None, timeout_s: float = 120
) -> AudioFacts:
    """Observe ``path`` (see the module docstring); never raises on bad audio.

    Raises only when the file itself cannot be read (missing, a directory, no
    permission) or no ffmpeg can be found: those are faults of the platform,
    not of the upload, and must not be filed as a verdict on the sender.
    """
    path = Path(path)
    size, md5, sha256 = _hash_file(path)
    empty = AudioFacts(
        container=None, codec=None, sample_rate=None, channels=None,
        declared_duration_s=None, decoded_duration_s=None, peak_dbfs=None, rms_dbfs=None,
        clipped_ratio=None, size_bytes=size, md5=md5, sha256=sha256,
    )  # fmt: skip
    if size == 0:
        return replace(empty, failure="the file is empty")
    with path.open("rb") as handle:
        signature = _signature(handle)
        header_s = _declared_from_header(handle)
    run = _decode(path, ffmpeg_binary(ffmpeg_path), timeout_s)
    info = _parse_stderr(run.stderr_head)
    declared = header_s if header_s is not None else info.duration_s
    stats = run.stats
    decoded_s = stats.frames / run.sample_rate if run.sample_rate and stats.frames else None
    failure = _failure(run, info)
    return AudioFacts(
        container=info.container,
        codec=info.codec,
        sample_rate=run.sample_rate or info.sample_rate or None,
        channels=run.channels or None,
        declared_duration_s=declared,
        decoded_duration_s=decoded_s,
        peak_dbfs=_dbfs(stats.peak) if failure is None else None,
        rms_dbfs=_dbfs(stats.rms) if failure is None else None,
        clipped_ratio=stats.clipped / stats.samples if failure is None else None,
        size_bytes=size,
        md5=md5,
        sha256=sha256,
        signature=signature,
        decoder_errors=run.decoder_errors,
        weak_detection=info.weak_detection,
        failure=failure,
    )


def _dbfs(level: float) -> float:
    """Level in dBFS, floored at :data:`MIN_DBFS` for silence."""
    if not level > 0.0 or not math.isfinite(level):
        return MIN_DBFS
    return max(20.0 * math.log10(level), MIN_DBFS)


# --------------------------------------------------------------------------- the file's bytes


def _hash_file(path: Path) -> tuple[int, str, str]:
    """Size, MD5 and SHA-256 in one read: MD5 is what senders declare, SHA-256 what we key on."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            size += len(block)
            md5.update(block)
            sha.update(block)
    return size, md5.hexdigest(), sha.hexdigest()


def _skip_id3v2(handle: BinaryIO) -> int:
    """Offset just past a leading ID3v2 tag (0 without one); FLAC and MP3 may both carry one."""
    handle.seek(0)
    head = handle.read(10)
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def _signature(handle: BinaryIO) -> str | None:
    """The format the leading magic bytes claim, or None when they claim nothing known."""
    handle.seek(0)
    head = handle.read(16)
    checks: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
        ("wav", lambda h: h[:4] in (b"RIFF", b"RF64", b"BW64") and h[8:12] == b"WAVE"),
        ("aiff", lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC")),
        ("flac", lambda h: h[:4] == b"fLaC"),
        ("ogg", lambda h: h[:4] == b"OggS"),
        ("mp4", lambda h: h[4:8] == b"ftyp"),
        ("asf", lambda h: h[:16] == _ASF_GUID),
        ("matroska", lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
        ("midi", lambda h: h[:4] == b"MThd"),
        ("aac", lambda h: len(h) >= 2 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0),
        ("mp3", lambda h: len(h) >= 2 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0),
    )
    for name, matches in checks:
        if matches(head):
            return name
    if head[:3] == b"ID3":
        handle.seek(_skip_id3v2(handle))
        inner = handle.read(4)
        if inner[:4] == b"fLaC":
            return "flac"
        return "mp3" if len(inner) >= 2 and inner[0] == 0xFF and inner[1] & 0xE0 == 0xE0 else "id3"
    return None


def _declared_from_header(handle: BinaryIO) -> float | None:
    """The length the header promises, in seconds; None when it promises none."""
    for parse in (_wav_declared, _aiff_declared, _flac_declared, _mp3_declared):
        try:
            seconds = parse(handle)
        except (struct.error, ValueError, ZeroDivisionError, OverflowError):
            seconds = None
        if seconds is not None:
            return seconds if math.isfinite(seconds) and seconds > 0 else None
    return None


def _chunks(handle: BinaryIO, start: int, big_endian: bool, limit: int = 64):
    """Yield (id, body offset, size) of RIFF/IFF chunks from ``start`` (at most ``limit``)."""
    fmt = ">I" if big_endian else "<I"
    offset = start
    for _ in range(limit):
        handle.seek(offset)
        head = handle.read(8)
        if len(head) < 8:
            return
        (size,) = struct.unpack(fmt, head[4:])
        yield head[:4], offset + 8, size
        offset += 8 + size + (size & 1)


def _wav_declared(handle: BinaryIO) -> float | None:
    """Data chunk size over the byte rate; placeholder sizes (0, 0xFFFFFFFF) declare nothing."""
    handle.seek(0)
    head = handle.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate = 0
    for chunk_id, body, size in _chunks(handle, 12, big_endian=False):
        if chunk_id == b"fmt ":
            handle.seek(body)
            _tag, _channels, _rate, byte_rate = struct.unpack("<HHII", handle.read(12))
        elif chunk_id == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
    return None


def _aiff_declared(handle: BinaryIO) -> float | None:
    """COMM's sample frame count over its 80-bit extended-precision sample rate."""
    handle.seek(0)
    head = handle.read(12)
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return None
    for chunk_id, body, _size in _chunks(handle, 12, big_endian=True):
        if chunk_id == b"COMM":
            handle.seek(body)
            _channels, frames, _bits = struct.unpack(">hIh", handle.read(8))
            exponent, mantissa = struct.unpack(">HQ", handle.read(10))
            rate = mantissa * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63)
            return frames / rate if frames and rate > 0 else None
    return None


def _flac_declared(handle: BinaryIO) -> float | None:
    """STREAMINFO's total samples over its sample rate (0 total means "unknown")."""
    start = _skip_id3v2(handle)
    handle.seek(start)
    head = handle.read(4 + 4 + 18)
    if head[:4] != b"fLaC" or head[4] & 0x7F != 0 or len(head) < 26:
        return None
    info = head[8:]
    (packed,) = struct.unpack(">Q", info[10:18])
    rate = packed >> 44
    total = packed & ((1 << 36) - 1)
    return total / rate if total and rate else None


# MPEG audio: bitrate tables are not needed to find the Xing header, only the
# version, layer, sample rate and channel mode.
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_declared(handle: BinaryIO) -> float | None:
    """Frame count of the first frame's Xing/Info or VBRI header times samples per frame.

    Only the first valid frame is looked at, as decoders do; a CBR file without
    such a header declares no length (ffmpeg then only estimates one).
    """
    start = _skip_id3v2(handle)
    handle.seek(start)
    data = handle.read(_HEAD_BYTES)
    for pos in range(max(len(data) - 4, 0)):
        if data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
            continue
        version = (data[pos + 1] >> 3) & 3
        layer = (data[pos + 1] >> 1) & 3
        rate_index = (data[pos + 2] >> 2) & 3
        bitrate_index = data[pos + 2] >> 4
        if version == 1 or layer == 0 or rate_index == 3 or bitrate_index in (0, 15):
            continue
        return _xing_frames(data, pos, version, layer, _MPEG_RATES[version][rate_index])
    return None


def _xing_frames(data: bytes, pos: int, version: int, layer: int, rate: int) -> float | None:
    """Seconds declared by a Xing/Info (or VBRI) header in the frame at ``pos``, if any."""
    mono = (data[pos + 3] >> 6) == 3
    if version == 3:
        side = 17 if mono else 32
        per_frame = {3: 384, 2: 1152, 1: 1152}[layer]
    else:
        side = 9 if mono else 17
        per_frame = {3: 384, 2: 1152, 1: 576}[layer]
    xing = pos + 4 + side
    if data[xing : xing + 4] in (b"Xing", b"Info"):
        (flags,) = struct.unpack(">I", data[xing + 4 : xing + 8])
        if flags & 1:
            (frames,) = struct.unpack(">I", data[xing + 8 : xing + 12])
            return frames * per_frame / rate if frames else None
        return None
    vbri = pos + 4 + 32
    if data[vbri : vbri + 4] == b"VBRI":
        (frames,) = struct.unpack(">I", data[vbri + 14 : vbri + 18])
        return frames * per_frame / rate if frames else None
    return None


# --------------------------------------------------------------------------- ffmpeg's stderr


@dataclass(frozen=True)
class _StreamInfo:
    """What ffmpeg announced about the input before decoding it."""

    container: str | None = None
    codec: str | None = None
    sample_rate: int | None = None
    duration_s: float | None = None  # None when absent or merely estimated from the bitrate
    weak_detection: bool = False


_INPUT = re.compile(r"Input #0, (.+?), from '")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO = re.compile(r"Stream #0:\d+\S*: Audio: ([A-Za-z0-9_]+)(.*)")
_HZ = re.compile(r"(\d+) Hz")


def _parse_stderr(lines: list[str]) -> _StreamInfo:
    """Read container, codec, rate and header duration from ffmpeg's input summary.

    Only lines before ``Stream mapping:`` describe the input (later ones
    describe our output). A duration ffmpeg says it estimated from the
    bitrate is dropped: it is a guess, and comparing against a guess would
    call honest VBR files truncated.
    """
    container = codec = None
    rate = None
    duration = None
    estimated = weak = False
    for line in lines:
        if "Stream mapping:" in line:
            break
        if "misdetection possible" in line:
            weak = True
        if "Estimating duration from bitrate" in line:
            estimated = True
        if container is None and (m := _INPUT.search(line)):
            container = m.group(1)
        elif duration is None and (m := _DURATION.search(line)):
            h, mnt, s = m.groups()
            duration = int(h) * 3600 + int(mnt) * 60 + float(s)
        elif codec is None and (m := _AUDIO.search(line)):
            codec = m.group(1)
            hz = _HZ.search(m.group(2))
            rate = int(hz.group(1)) if hz else None
    return _StreamInfo(
        container=container,
        codec=codec,
        sample_rate=rate or None,
        duration_s=None if estimated or not duration else duration,
        weak_detection=weak,
    )


# Components whose errors concern our own output, not the uploaded file.
_OUTPUT_SIDE = ("[out#", "[af#", "[aost#", "[enc:", "[wav @", "[AVIOContext")


def _is_decoder_error(line: str) -> bool:
    return ("[error]" in line or "[fatal]" in line) and not any(
        tag in line for tag in _OUTPUT_SIDE
    )


def _error_text(line: str) -> str:
    """An ffmpeg log line without its ``[component @ 0x..] [level]`` prefixes."""
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line).strip()


# --------------------------------------------------------------------------- decoding


@dataclass
class _Stats:
    """Running summary of decoded float samples (all channels interleaved)."""

    samples: int = 0
    peak: float = 0.0
    sum_squares: float = 0.0
    clipped: int = 0
    channels: int = 1

    @property
    def frames(self) -> int:
        return self.samples // max(self.channels, 1)

    @property
    def rms(self) -> float:
        return math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0

    def add(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        magnitude = np.abs(samples)
        peak = float(magnitude.max())
        if not math.isfinite(peak):  # a broken decoder must not poison the whole summary
            samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
            magnitude = np.abs(samples)
            peak = float(magnitude.max())
        self.samples += samples.size
        self.peak = max(self.peak, peak)
        self.sum_squares += float(np.dot(samples, samples))
        self.clipped += int(np.count_nonzero(magnitude >= CLIP_LEVEL))


@dataclass
class _DecodeRun:
    """Outcome of one ffmpeg decode: stats, output layout and what stderr said."""

    stats: _Stats
    sample_rate: int = 0
    channels: int = 0
    returncode: int | None = None
    timeout_s: float = 0.0
    timed_out: bool = False
    stderr_head: list[str] = field(default_factory=list)
    decoder_errors: int = 0
    start_error: str | None = None
    decoder_error: str | None = None


def _decode_command(binary: str, path: Path) -> list[str]:
    """ffmpeg reading only this local file and writing its first audio stream as float WAV.

    ``file:`` and the protocol whitelist stop a crafted upload (a playlist, a
    name with a colon) from making ffmpeg open URLs or other protocols. WAV on
    the pipe carries the real channel count and rate in its header; bitexact
    keeps ffmpeg from adding a LIST chunk before the samples.
    """
    return [
        binary, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info",
        "-protocol_whitelist", "file", "-i", f"file:{path.resolve()}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1",
        "-c:a", "pcm_f32le", "-f", "wav", "-fflags", "+bitexact", "pipe:1",
    ]  # fmt: skip


def _decode(path: Path, binary: str, timeout_s: float) -> _DecodeRun:
    """Stream-decode ``path``, summarising samples chunk by chunk; killed at the deadline."""
    command = _decode_command(binary, path)
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise FFmpegError(f"could not start ffmpeg to inspect {path}: {exc}", command=command)
    run = _DecodeRun(stats=_Stats(), timeout_s=timeout_s)
    reader = _StderrReader(proc.stderr)  # type: ignore[arg-type]
    reader.start()
    timer = threading.Timer(timeout_s, _kill, args=(proc, run))
    timer.start()
    try:
        _consume_wav(proc.stdout, run)  # type: ignore[arg-type]
    finally:
        proc.stdout.close()  # type: ignore[union-attr]  # an early stop makes ffmpeg exit on EPIPE
        run.returncode = proc.wait()
        timer.cancel()
        reader.join()
    run.stderr_head = reader.head
    run.decoder_errors = reader.decoder_errors
    run.start_error = reader.start_error
    run.decoder_error = reader.decoder_error
    return run


def _kill(proc: subprocess.Popen[bytes], run: _DecodeRun) -> None:
    run.timed_out = True
    proc.kill()


def _consume_wav(stream: BinaryIO, run: _DecodeRun) -> None:
    """Parse the streamed WAV header, then fold every sample into ``run.stats``."""
    header = b""
    while True:
        block = stream.read(4096)
        if not block:
            return
        header += block
        parsed = _wav_stream_header(header)
        if parsed is not None:
            break
        if len(header) > 1 << 16:  # no data chunk in 64 KiB: not a WAV stream we understand
            return
    rate, channels, offset = parsed
    run.sample_rate, run.channels = rate, channels
    run.stats.channels = channels
    leftover = header[offset:]
    while True:
        usable = len(leftover) - len(leftover) % 4
        if usable:
            run.stats.add(np.frombuffer(leftover, dtype="<f4", count=usable // 4))
        leftover = leftover[usable:]
        block = stream.read(_CHUNK_BYTES)
        if not block:
            return
        leftover += block


def _wav_stream_header(data: bytes) -> tuple[int, int, int] | None:
    """(rate, channels, offset of samples) once the ``data`` chunk header has arrived."""
    if len(data) < 12:
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, rate, channels = 12, 0, 0
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            if body + 8 > len(data):
                return None
            channels, rate = struct.unpack_from("<HI", data, body + 2)
        elif chunk_id == b"data":
            return (rate, channels, body) if channels and rate else None
        offset = body + size + (size & 1)
    return None


class _StderrReader(threading.Thread):
    """Drains ffmpeg's stderr so it never blocks, keeping only what inspection needs.

    The input summary is at the top, so the first lines are kept; past that,
    error lines are only counted (a corrupt file can log one per packet).
    """

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.head: list[str] = []
        self.decoder_errors = 0
        self.start_error: str | None = None  # the first error while opening the input
        self.decoder_error: str | None = None  # the first error while decoding it

    def run(self) -> None:
        decoding = False
        for raw in self.stream:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if len(self.head) < _STDERR_KEEP_LINES:
                self.head.append(line)
            if "Stream mapping:" in line:
                decoding = True
            if "[error]" not in line and "[fatal]" not in line:
                continue
            if not decoding:
                self.start_error = self.start_error or _error_text(line)
            elif _is_decoder_error(line):
                self.decoder_errors += 1
                self.decoder_error = self.decoder_error or _error_text(line)
        self.stream.close()


def _failure(run: _DecodeRun, info: _StreamInfo) -> str | None:
    """Why no audio came out, in words for the sender; None when some did."""
    if run.timed_out:
        return f"decoding did not finish within the time limit of {run.timeout_s:g} s"
    if run.stats.samples > 0:
        return None
    if info.container is None:
        return _reason_text(run.start_error) or "not in any container format ffmpeg knows"
    if info.codec is None:
        return f"the {info.container} file has no audio stream"
    detail = _reason_text(run.decoder_error)
    return f"no audio could be decoded from its {info.codec} stream" + (
        f" ({detail})" if detail else ""
    )


def _reason_text(error: str | None) -> str | None:
    """ffmpeg's error, made to read as a reason ("Invalid data..." → "invalid data...")."""
    if not error:
        return None
    text = error.removeprefix("Error opening input: ").rstrip(".")
    text = re.sub(r"^Error opening input file .*", "", text).strip()
    return text[:1].lower() + text[1:] if text else None
