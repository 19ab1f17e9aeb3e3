"""Publishing a track version's audio outputs so readers only ever see complete ones.

Each kind of output (``hls``, ``loudness``, ``waveform``, ``preview``, ``features``) of a
track version lives in build folders::

    audio/<kind>/<ISRC>/v<n>/<build id>/...        files, then _manifest.json last
    audio/<kind>/<ISRC>/v<n>/current.json          which build readers use

The build id is a hash of everything that decides the bytes (source audio,
settings, key), so a re-run with the same inputs lands in the same folder,
finds it already published and verified, and does nothing. A new setting or a
new key gives a new build folder, written completely, manifest last; only
then does ``current.json`` (one atomic object write) switch to it. A process
killed half way leaves a build folder with no manifest that no pointer names:
invisible to readers, and overwritten by the re-run. The build the pointer
named before is kept, so a player that loaded its playlists a moment earlier
can finish; older builds are pruned.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.lake import Lake, LakeError

AUDIO_ROOT = "audio"
POINTER = "current.json"
KINDS = ("hls", "loudness", "waveform", "preview", "features")


@dataclass(frozen=True)
class BuildRef:
    """A published build of one kind of output for one track version."""

    kind: str
    isrc: str
    version: int
    build_id: str

    @property
    def prefix(self) -> str:
        return f"{track_prefix(self.kind, self.isrc, self.version)}/{self.build_id}"

    def path(self, name: str) -> str:
        return f"{self.prefix}/{name}"


def track_prefix(kind: str, isrc: str, version: int) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown audio output kind {kind!r}; expected one of {KINDS}")
    return f"{AUDIO_ROOT}/{kind}/{isrc}/v{int(version)}"


def build_id(**inputs: object) -> str:
    """A short stable hash of the inputs that decide a build's bytes."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current(lake: Lake, kind: str, isrc: str, version: int) -> BuildRef | None:
    """The build readers should use, or None when nothing is published yet."""
    path = f"{track_prefix(kind, isrc, version)}/{POINTER}"
    if not lake.exists(path):
        return None
    try:
        data = json.loads(lake.read_bytes(path))
        return BuildRef(kind, isrc, int(version), str(data["build"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise LakeError(f"{path}: unreadable pointer: {exc}") from exc


def is_complete(lake: Lake, ref: BuildRef) -> bool:
    """Published and every file matches its manifest (size and hash)."""
    return lake.is_published(ref.prefix) and not lake.verify(ref.prefix)


def publish_build(lake: Lake, ref: BuildRef, local_dir: str | os.PathLike[str]) -> bool:
    """Publish ``local_dir`` as ``ref`` and point readers at it; False when it was already there.

    Order matters: files, then the build's manifest, then the pointer, then pruning.
    """
    previous = current(lake, ref.kind, ref.isrc, ref.version)
    fresh = not is_complete(lake, ref)
    if fresh:
        files = {p.relative_to(local_dir).as_posix(): p for p in sorted(Path(local_dir).rglob("*")) if p.is_file()}
        lake.publish(ref.prefix, files)
    set_current(lake, ref, previous=previous)
    return fresh


def set_current(lake: Lake, ref: BuildRef, *, previous: BuildRef | None = None) -> None:
    """Point readers at a complete build (one atomic write) and prune all but it and the one before."""
    if previous is None:
        previous = current(lake, ref.kind, ref.isrc, ref.version)
    if not lake.is_published(ref.prefix):
        raise LakeError(f"refusing to point readers at unpublished build {ref.prefix}")
    if previous != ref:
        pointer = json.dumps({"build": ref.build_id, "kind": ref.kind, "isrc": ref.isrc, "version": ref.version},
                             sort_keys=True)  # fmt: skip
        lake.write_bytes(f"{track_prefix(ref.kind, ref.isrc, ref.version)}/{POINTER}", (pointer + "\n").encode())
    _prune(lake, ref, keep={ref.build_id, previous.build_id if previous else ref.build_id})


def _prune(lake: Lake, ref: BuildRef, keep: set[str]) -> None:
    """Delete builds other than the current and the one it replaced."""
    base = track_prefix(ref.kind, ref.isrc, ref.version)
    for name in lake.ls(base):
        if name != POINTER and name not in keep:
            lake.delete_tree(f"{base}/{name}")
