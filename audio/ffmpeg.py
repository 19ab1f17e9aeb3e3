"""Locate and drive the ffmpeg binary for encoding and decoding audio.

The binary comes from the ``imageio-ffmpeg`` wheel so the platform needs no
system package; an explicit path (the platform setting ``ffmpeg_binary``) wins.
That wheel ships no ``ffprobe``, so everything here, probing included, goes
through ``ffmpeg`` itself. Commands are built with ``ffmpeg-python`` but run
with :mod:`subprocess` directly, so failures carry ffmpeg's own words.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import ffmpeg as ffmpeg_cli
import imageio_ffmpeg
import numpy as np

from audio.pcm import as_frames

__all__ = [
    "FFmpegError",
    "run_ffmpeg",
    "ffmpeg_binary",
    "encode_pcm",
    "decode_pcm",
    "probe_duration_s",
]

AudioFormat = Literal["wav", "flac", "mp3"]

# Per-format codec options. ``bitexact`` everywhere keeps the library version
# string out of the file so the same samples always give the same bytes.
_CODEC_ARGS: dict[str, dict[str, object]] = {
    "wav": {"format": "wav", "acodec": "pcm_s16le"},
    "flac": {"format": "flac", "acodec": "flac", "sample_fmt": "s16"},
    "mp3": {"format": "mp3", "acodec": "libmp3lame", "id3v2_version": 0},
}
_STDERR_TAIL_CHARS = 2000


class FFmpegError(RuntimeError):
    """ffmpeg could not be found or did not do what was asked.

    Keeps the command and the tail of ffmpeg's stderr so a person reading a
    failed run sees ffmpeg's reason, not just an exit code.
    """

    def __init__(self, message: str, *, command: list[str] | None = None, stderr: str = ""):
        self.command = list(command) if command else []
        self.stderr = stderr[-_STDERR_TAIL_CHARS:] if stderr else ""
        text = message
        if self.stderr.strip():
            text += "\nffmpeg said:\n" + self.stderr.strip()
        if self.command:
            text += "\ncommand: " + " ".join(self.command)
        super().__init__(text)


def ffmpeg_binary(override: str | None = None) -> str:
    """Return the ffmpeg executable to run.

    An override is checked up front so a mistyped setting fails with its path
    named, instead of surfacing later as an obscure subprocess error.
    """
    if override:
        path = Path(override)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise FFmpegError(f"ffmpeg binary {override!r} does not exist or is not executable")
        return str(path)
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:  # the wheel raises this when no binary fits
        raise FFmpegError(f"no ffmpeg binary available from imageio-ffmpeg: {exc}") from exc


def run_ffmpeg(
    command: list[str], *, what: str, stdin: bytes | None = None, timeout_s: float | None = None
) -> tuple[bytes, str]:
    """Run ffmpeg and return (stdout, stderr), raising FFmpegError that says what it was doing.

    Every ffmpeg call in the platform goes through here so failures read the same
    way everywhere: the task (``what``), the exit status, the command and ffmpeg's
    own stderr. A timeout guards against a decoder stuck on a hostile file.
    """
    try:
        done = subprocess.run(
            command,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"ffmpeg did not {what} within {timeout_s:g} s", command=command) from exc
    except OSError as exc:
        raise FFmpegError(f"could not start ffmpeg to {what}: {exc}", command=command) from exc
    stderr = done.stderr.decode("utf-8", errors="replace")
    if done.returncode != 0:
        raise FFmpegError(
            f"ffmpeg failed to {what} (exit status {done.returncode})",
            command=command,
            stderr=stderr,
        )
    return done.stdout, stderr


def _run(command: list[str], *, stdin: bytes | None = None, what: str) -> bytes:
    """ffmpeg's stdout (see :func:`run_ffmpeg`)."""
    return run_ffmpeg(command, what=what, stdin=stdin)[0]


def _as_frames(pcm: np.ndarray) -> np.ndarray:
    """Validate and normalise PCM to C-contiguous float32 (frames, channels)."""
    return as_frames(pcm)


def _encode_command(
    binary: str,
    out_path: str,
    fmt: AudioFormat,
    sample_rate: int,
    channels: int,
    bitrate_kbps: int,
) -> list[str]:
    """Build the ffmpeg command that turns raw f32le on stdin into ``fmt``."""
    options: dict[str, object] = dict(_CODEC_ARGS[fmt])
    if fmt == "mp3":
        options["audio_bitrate"] = f"{int(bitrate_kbps)}k"
    options.update({"map_metadata": -1, "fflags": "+bitexact", "flags:a": "+bitexact"})
    stream = ffmpeg_cli.input("pipe:0", format="f32le", ar=int(sample_rate), ac=int(channels))
    stream = ffmpeg_cli.output(stream, out_path, **options)
    stream = stream.global_args("-hide_banner", "-loglevel", "error")
    return ffmpeg_cli.compile(stream, cmd=binary, overwrite_output=True)


def encode_pcm(
    pcm: np.ndarray,
    sample_rate: int,
    path: str | os.PathLike[str],
    fmt: AudioFormat,
    *,
    bitrate_kbps: int = 192,
    ffmpeg_path: str | None = None,
) -> None:
    """Encode float PCM in [-1, 1] to a wav/flac/mp3 file, atomically.

    Output is byte-for-byte reproducible for the same input (no encoder
    version tags, no metadata), so content hashes and caches stay stable.
    The file is written next to its destination and renamed into place so a
    concurrent reader never sees a half-written file.
    """
    if fmt not in _CODEC_ARGS:
        raise ValueError(f"unsupported format {fmt!r}; expected one of {sorted(_CODEC_ARGS)}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    frames = _as_frames(pcm)
    binary = ffmpeg_binary(ffmpeg_path)
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        command = _encode_command(
            binary, tmp_name, fmt, sample_rate, frames.shape[1], bitrate_kbps
        )
        _run(command, stdin=frames.tobytes(), what=f"encode {fmt} to {target}")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _decode_command(
    binary: str, path: str, sample_rate: int | None, channels: int | None, codec: str
) -> list[str]:
    """Build the command that decodes the first audio stream to WAV on stdout.

    WAV (not raw PCM) on the pipe tells us the sample rate and channel count
    ffmpeg actually produced, without a separate probe step.
    """
    options: dict[str, object] = {"format": "wav", "acodec": codec, "map": "0:a:0"}
    if sample_rate is not None:
        options["ar"] = int(sample_rate)
    if channels is not None:
        options["ac"] = int(channels)
    stream = ffmpeg_cli.input(path)
    stream = ffmpeg_cli.output(stream, "pipe:1", **options)
    stream = stream.global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    return ffmpeg_cli.compile(stream, cmd=binary)


def _split_wav_stream(data: bytes) -> tuple[int, int, int, memoryview]:
    """Parse a streamed WAV: return (sample_rate, channels, bits, sample bytes).

    ffmpeg cannot seek back on a pipe, so chunk sizes in the header may be
    placeholders; everything after the ``data`` chunk header is samples.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("ffmpeg did not produce a WAV stream")
    offset = 12
    sample_rate = channels = bits = 0
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            channels, sample_rate = struct.unpack_from("<HI", data, body + 2)
            (bits,) = struct.unpack_from("<H", data, body + 14)
        elif chunk_id == b"data":
            if not channels:
                break
            return sample_rate, channels, bits, memoryview(data)[body:]
        offset = body + size + (size & 1)
    raise ValueError("WAV stream from ffmpeg has no fmt/data chunk")


def _decode_wav(
    path: str | os.PathLike[str],
    sample_rate: int | None,
    channels: int | None,
    ffmpeg_path: str | None,
    codec: str,
) -> tuple[int, int, int, memoryview]:
    """Decode ``path`` with ffmpeg and return the parsed WAV stream parts."""
    source = os.fspath(path)
    if not Path(source).is_file():
        raise FFmpegError(f"cannot decode {source!r}: no such file")
    command = _decode_command(ffmpeg_binary(ffmpeg_path), source, sample_rate, channels, codec)
    out = _run(command, what=f"decode {source}")
    try:
        return _split_wav_stream(out)
    except ValueError as exc:
        raise FFmpegError(f"could not read decoded audio of {source!r}: {exc}", command=command)


def decode_pcm(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    ffmpeg_path: str | None = None,
) -> tuple[np.ndarray, int]:
    """Decode any audio file to float32 ``(frames, channels)`` and its sample rate.

    Resampling/remixing is done by ffmpeg when asked, so callers get exactly
    the layout their analysis expects. A file that yields no audio at all is
    an error: silently returning nothing would hide broken uploads.
    """
    rate, n_channels, _, payload = _decode_wav(
        path, sample_rate, channels, ffmpeg_path, "pcm_f32le"
    )
    usable = len(payload) - len(payload) % (4 * n_channels)
    if usable == 0:
        raise FFmpegError(f"no audio could be decoded from {os.fspath(path)!r}")
    samples = np.frombuffer(payload[:usable], dtype="<f4").reshape(-1, n_channels)
    return samples.astype(np.float32, copy=True), rate


def probe_duration_s(path: str | os.PathLike[str], *, ffmpeg_path: str | None = None) -> float:
    """Duration in seconds, measured by decoding the audio.

    Decoding (to compact 16-bit mono) is exact for every format, whereas the
    ``Duration:`` line of ``ffmpeg -i`` is rounded to 10 ms and only estimated
    for MP3 files without a seek header.
    """
    rate, n_channels, bits, payload = _decode_wav(path, None, 1, ffmpeg_path, "pcm_s16le")
    frame_bytes = n_channels * bits // 8
    frames = len(payload) // frame_bytes
    if frames == 0:
        raise FFmpegError(f"no audio could be decoded from {os.fspath(path)!r}")
    return frames / rate
