"""Where each track version's AES-128 content key lives.

Keys sit in their own store (a folder locally, a private S3 prefix in prod),
never beside the segments a CDN serves. A key is created once per track
version and then reused, so re-running a transcode writes the same encrypted
bytes and players holding the old key keep working.
"""

from __future__ import annotations

import hashlib
import re

from audio.hls_crypto import KEY_BYTES, new_key
from pipelines.lake import Lake

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")


class KeyStoreError(RuntimeError):
    """A key is missing, malformed or asked for under a bad name."""


class KeyStore:
    """Content keys by (ISRC, version), on top of a private lake root."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @staticmethod
    def _path(isrc: str, version: int) -> str:
        if not _ISRC.match(isrc):
            raise KeyStoreError(f"not an ISRC: {isrc!r}")
        if not isinstance(version, int) or version < 1:
            raise KeyStoreError(f"track version must be a positive integer, got {version!r}")
        return f"hls-keys/{isrc}/v{version}.key"

    def get(self, isrc: str, version: int) -> bytes:
        """The key of a track version; a clear error when there is none (never a new one)."""
        path = self._path(isrc, version)
        if not self._lake.exists(path):
            raise KeyStoreError(f"no content key for {isrc} v{version}")
        key = self._lake.read_bytes(path)
        if len(key) != KEY_BYTES:
            raise KeyStoreError(f"content key for {isrc} v{version} is {len(key)} bytes, not {KEY_BYTES}")
        return key

    def get_or_create(self, isrc: str, version: int) -> bytes:
        """The existing key, or a fresh random one written atomically before first use."""
        path = self._path(isrc, version)
        if self._lake.exists(path):
            return self.get(isrc, version)
        # Only the one partition run of this track version ever creates its key.
        self._lake.write_bytes(path, new_key())
        return self.get(isrc, version)


def key_fingerprint(key: bytes) -> str:
    """A short, non-reversible tag of a key: lets a build's identity change when its key does."""
    return hashlib.sha256(b"congowave-hls-key:" + key).hexdigest()[:12]
