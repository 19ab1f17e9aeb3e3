"""Lake storage that behaves the same on a local folder and on S3.

Every pipeline stage reads and writes through :class:`Lake` so that the same code
runs against a developer's disk, CI's MinIO/moto and production S3. Three promises
hold on both backends, because downstream jobs are re-run and crash at random:

* **Containment** - every relative path is validated lexically (and, locally,
  against symlinks) before use, so a track title or a partition value taken from
  outside input can never address anything outside the lake root.
* **Atomic objects** - a reader sees either the previous complete object or the
  new complete one, never a torn write (local: temp file + fsync + ``os.replace``;
  S3: one PUT / completed multipart upload, which S3 itself makes atomic).
* **Published datasets** - a multi-file dataset only becomes visible when its
  ``_manifest.json`` (written last) exists; readers trust nothing else.

This module deliberately knows nothing about Dagster; resources wrap it elsewhere.
"""

from __future__ import annotations

import datetime

import contextlib
import hashlib
import json
import os
import shutil
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # duckdb is only needed by callers that query the lake
    import duckdb

__all__ = [
    "MANIFEST_NAME",
    "FileEntry",
    "Lake",
    "LakeError",
    "Manifest",
    "S3Options",
]

MANIFEST_NAME = "_manifest.json"
"""Name of the file that, written last, turns a prefix into a published dataset."""

MANIFEST_FORMAT = "congowave-lake-manifest/1"
TMP_PREFIX = ".tmp-"
"""Reserved name prefix for in-flight local writes; listings hide such names."""

_CHUNK = 1 << 20
_MAX_SEGMENT_BYTES = 255  # common local filesystem limit on one name
_MAX_PATH_BYTES = 1024  # S3 key limit; also keeps local paths sane
# Characters that mean something to a filesystem layer, a glob, an S3 version
# suffix ("?versionId=") or a Windows path; none belong in a lake name.
_FORBIDDEN_CHARS = frozenset('\\:*?[]"<>|')
_GLOB_CHARS = frozenset("*?[]")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class LakeError(RuntimeError):
    """A lake path, manifest or dataset is unsafe, malformed or not published."""


@dataclass(frozen=True)
class S3Options:
    """Connection settings for an S3-compatible store (AWS, MinIO, moto).

    ``None`` credentials fall back to botocore's usual chain (env, profile, IAM role).
    """

    endpoint_url: str | None
    key: str | None
    secret: str | None = field(repr=False)  # never end up in logs via repr()
    region: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """What a manifest promises about one file, enough to detect tampering or truncation."""

    size: int
    sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise LakeError(f"invalid file size in manifest entry: {self.size!r}")
        if not isinstance(self.sha256, str) or not _SHA256_RE.match(self.sha256):
            raise LakeError(f"invalid sha256 in manifest entry: {self.sha256!r}")


@dataclass(frozen=True)
class Manifest:
    """The list of files that make up a published dataset, keyed by path relative to it.

    Serialisation is deterministic (sorted keys, no timestamps) so that republishing
    identical data produces an identical manifest and content-addressed caches hold.
    """

    files: dict[str, FileEntry]

    def __post_init__(self) -> None:
        for name, entry in self.files.items():
            _check_relpath(name, allow_root=False)
            if not isinstance(entry, FileEntry):
                raise LakeError(f"manifest entry for {name!r} is not a FileEntry")
        # Sorted copy: equality and iteration order must not depend on insertion order.
        object.__setattr__(self, "files", {k: self.files[k] for k in sorted(self.files)})

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files.values())

    def to_json(self) -> str:
        payload = {
            "format": MANIFEST_FORMAT,
            "files": {
                name: {"size": entry.size, "sha256": entry.sha256}
                for name, entry in self.files.items()
            },
        }
        return json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            payload = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LakeError(f"manifest is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != MANIFEST_FORMAT:
            raise LakeError("manifest has an unknown format")
        files = payload.get("files")
        if not isinstance(files, dict):
            raise LakeError("manifest has no 'files' object")
        entries: dict[str, FileEntry] = {}
        for name, raw in files.items():
            if not isinstance(raw, dict) or set(raw) != {"size", "sha256"}:
                raise LakeError(f"manifest entry for {name!r} is malformed")
            entries[name] = FileEntry(size=raw["size"], sha256=raw["sha256"])
        return cls(files=entries)


def _check_segment(segment: str, *, allow_glob: bool) -> None:
    if segment in ("", ".", ".."):
        raise LakeError(f"empty, '.' or '..' path segment: {segment!r}")
    if segment.startswith("~"):
        raise LakeError(f"path segment may not start with '~': {segment!r}")
    if segment.startswith(TMP_PREFIX):
        raise LakeError(f"path segment uses the reserved temp prefix: {segment!r}")
    if segment != segment.strip():
        raise LakeError(f"path segment has leading/trailing whitespace: {segment!r}")
    for ch in segment:
        if ord(ch) < 32 or ord(ch) == 127:
            raise LakeError(f"control character in path segment: {segment!r}")
        if ch in _FORBIDDEN_CHARS and not (allow_glob and ch in _GLOB_CHARS):
            raise LakeError(f"forbidden character {ch!r} in path segment: {segment!r}")
    if len(segment.encode("utf-8")) > _MAX_SEGMENT_BYTES:
        raise LakeError(f"path segment too long: {segment[:40]!r}...")


def _check_relpath(relpath: str, *, allow_root: bool, allow_glob: bool = False) -> str:
    """Validate a lake-relative POSIX path and return it unchanged.

    Validation is a whitelist of shapes rather than normalisation: silently
    "fixing" ``a/../b`` would hide bugs and make two spellings address one object.
    """
    if not isinstance(relpath, str):
        raise LakeError(f"lake paths must be str, got {type(relpath).__name__}")
    if relpath == "":
        if allow_root:
            return relpath
        raise LakeError("empty lake path")
    if relpath.startswith("/"):
        raise LakeError(f"absolute paths are not lake paths: {relpath!r}")
    if len(relpath.encode("utf-8", errors="replace")) > _MAX_PATH_BYTES:
        raise LakeError("lake path too long")
    for segment in relpath.split("/"):
        _check_segment(segment, allow_glob=allow_glob)
    return relpath


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _sha256_stream(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _sha256_local(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return _sha256_stream(f)


def _fsync_dir(path: str) -> None:
    """Persist a rename: without this a power loss can forget the new directory entry."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tmp_name(final_name: str) -> str:
    # Keep the final name for debuggability but stay under the per-name byte limit.
    short = final_name.encode("utf-8")[:150].decode("utf-8", errors="ignore")
    return f"{TMP_PREFIX}{uuid.uuid4().hex}-{short}"


def _is_hidden(relpath: str, *, hide_manifests: bool) -> bool:
    segments = relpath.split("/")
    if any(s.startswith(TMP_PREFIX) for s in segments):
        return True
    return hide_manifests and segments[-1] == MANIFEST_NAME


class Lake:
    """A lake rooted at a local folder or an ``s3://bucket/prefix``.

    All path arguments are *relative* lake paths ("landing/events/x.json"); they are
    validated by :meth:`resolve` so callers may pass names derived from outside input.
    """

    def __init__(self, root_url: str, s3: S3Options | None = None) -> None:
        if not isinstance(root_url, str) or not root_url.strip():
            raise LakeError("lake root_url must be a non-empty string")
        self._s3_options = s3
        self._fs: fsspec.AbstractFileSystem | None = None
        if root_url.startswith("s3://"):
            self._protocol: Literal["file", "s3"] = "s3"
            bucket, _, prefix = root_url[len("s3://") :].strip("/").partition("/")
            if not _BUCKET_RE.match(bucket):
                raise LakeError(f"invalid S3 bucket name in lake root: {bucket!r}")
            if prefix:
                _check_relpath(prefix, allow_root=False)
            self._root_path = _join(bucket, prefix)  # fsspec path: no protocol
        elif "://" in root_url and not root_url.startswith("file://"):
            raise LakeError(f"unsupported lake protocol in {root_url!r} (use a path or s3://)")
        else:
            self._protocol = "file"
            local = root_url[len("file://") :] if root_url.startswith("file://") else root_url
            self._root_path = os.path.abspath(os.path.expanduser(local))
        self._real_root = (
            os.path.realpath(self._root_path) if self._protocol == "file" else self._root_path
        )

    def __repr__(self) -> str:
        return f"Lake({self.root_url!r})"

    # ------------------------------------------------------------------ identity

    @property
    def protocol(self) -> Literal["file", "s3"]:
        return self._protocol

    @property
    def root_url(self) -> str:
        return self._to_url(self._root_path)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem, built lazily: constructing a Lake never touches the network."""
        if self._fs is None:
            self._fs = self._make_fs()
        return self._fs

    def _make_fs(self) -> fsspec.AbstractFileSystem:
        if self._protocol == "file":
            return fsspec.filesystem("file")
        import s3fs  # local import: local-only users need not pay for botocore

        opts = self._s3_options or S3Options(endpoint_url=None, key=None, secret=None)
        client_kwargs: dict[str, Any] = {}
        if opts.region:
            client_kwargs["region_name"] = opts.region
        return s3fs.S3FileSystem(
            key=opts.key,
            secret=opts.secret,
            endpoint_url=opts.endpoint_url,
            client_kwargs=client_kwargs,
            # Other processes (Dagster steps, sensors) write to the same bucket; a
            # long-lived listing cache would hide their publications from us.
            use_listings_cache=False,
            # fsspec's instance cache (keyed by these arguments) is kept on purpose:
            # building a botocore client costs ~0.3 s, and with no listings cache a
            # shared instance holds no state that could go stale.
        )

    def _to_url(self, fspath: str) -> str:
        return f"s3://{fspath}" if self._protocol == "s3" else fspath

    # ------------------------------------------------------------------ paths

    def _fspath(self, relpath: str, *, allow_root: bool = False, allow_glob: bool = False) -> str:
        """Validated relative path -> path understood by ``self.fs`` (no protocol)."""
        _check_relpath(relpath, allow_root=allow_root, allow_glob=allow_glob)
        if not relpath:
            return self._root_path
        if self._protocol == "s3":
            return f"{self._root_path}/{relpath}"
        full = os.path.join(self._root_path, *relpath.split("/"))
        if not allow_glob:
            # Lexical checks cannot see symlinks planted inside a local lake.
            real = os.path.realpath(full)
            if real != self._real_root and not real.startswith(self._real_root + os.sep):
                raise LakeError(f"lake path escapes the root through a symlink: {relpath!r}")
        return full

    def resolve(self, relpath: str) -> str:
        """Full URL of ``relpath``; raises :class:`LakeError` for anything not safely inside."""
        return self._to_url(self._fspath(relpath))

    def url(self, *parts: str) -> str:
        """Full URL of the lake path made of ``parts`` (the root itself when no parts)."""
        if not parts:
            return self.root_url
        return self.resolve("/".join(parts))

    def _rel_to(self, base_fspath: str, fspath: str) -> str:
        fspath = fspath.rstrip("/")
        if self._protocol == "file":
            return Path(os.path.relpath(fspath, base_fspath)).as_posix()
        base = base_fspath.rstrip("/") + "/"
        return fspath[len(base) :] if fspath.startswith(base) else fspath

    # ------------------------------------------------------------------ reading

    def exists(self, relpath: str) -> bool:
        path = self._fspath(relpath, allow_root=True)
        return bool(self.fs.exists(path))

    def ls(self, prefix: str = "") -> list[str]:
        """Names of the immediate children of ``prefix`` (like ``os.listdir``), sorted.

        A missing prefix lists as empty, since S3 has no directories to be missing.
        """
        base = self._fspath(prefix, allow_root=True)
        try:
            entries = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if entry.rstrip("/") == base.rstrip("/"):
                continue  # ls() of a file returns the file itself
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith(TMP_PREFIX):
                names.append(name)
        return sorted(names)

    def walk_files(self, prefix: str = "", *, include_manifests: bool = False) -> list[str]:
        """All files under ``prefix`` as paths relative to ``prefix``, sorted.

        Temp files are always hidden; manifests are hidden unless asked for, because
        callers mostly want a dataset's data files.
        """
        base = self._fspath(prefix, allow_root=True)
        try:
            found = self.fs.find(base, withdirs=False)
        except FileNotFoundError:
            return []
        out = []
        for path in found:
            if path.rstrip("/") == base.rstrip("/"):
                continue  # find() of a file returns the file itself
            rel = self._rel_to(base, path)
            if not _is_hidden(rel, hide_manifests=not include_manifests):
                out.append(rel)
        return sorted(out)

    def read_bytes(self, relpath: str) -> bytes:
        return bytes(self.fs.cat_file(self._fspath(relpath)))

    def open(self, relpath: str, mode: str = "rb") -> BinaryIO:
        """Read-only streaming access; writes go through the atomic methods instead."""
        if mode != "rb":
            raise LakeError("Lake.open only supports mode 'rb'; use write_bytes/put_file")
        return self.fs.open(self._fspath(relpath), "rb")  # type: ignore[no-any-return]

    def size(self, relpath: str) -> int:
        info = self.fs.info(self._fspath(relpath))
        if info.get("type") != "file":
            raise LakeError(f"not a file: {relpath!r}")
        return int(info["size"])

    def modified_at(self, relpath: str) -> datetime.datetime:
        """When the object was last written (UTC): local mtime, or S3's LastModified."""
        info = self.fs.info(self._fspath(relpath))
        stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(stamp, datetime.datetime):
            return stamp.astimezone(datetime.UTC)
        if stamp is None:
            raise LakeError(f"{relpath}: the store reports no modification time")
        return datetime.datetime.fromtimestamp(float(stamp), datetime.UTC)

    def sha256(self, relpath: str) -> str:
        with self.open(relpath) as f:
            return _sha256_stream(f)

    # ------------------------------------------------------------------ writing

    def _atomic_local(self, relpath: str, fill: Callable[[BinaryIO], None]) -> None:
        target = self._fspath(relpath)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, _tmp_name(os.path.basename(target)))
        try:
            with open(tmp, "xb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(parent)

    def _s3_put_local_file(self, local_path: str, relpath: str, sha256: str) -> None:
        target = self._fspath(relpath)
        # put_object / completed multipart upload: the object appears whole or not at all.
        # The sha256 rides along as metadata so reruns can skip unchanged files cheaply.
        self.fs.put_file(local_path, target, Metadata={"sha256": sha256})
        self.fs.invalidate_cache(target)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Atomically create or replace ``relpath`` with ``data``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write_bytes needs bytes, got {type(data).__name__}")
        data = bytes(data)
        if self._protocol == "file":

            def fill(f: BinaryIO) -> None:
                f.write(data)

            self._atomic_local(relpath, fill)
            return
        target = self._fspath(relpath)
        sha = hashlib.sha256(data).hexdigest()
        self.fs.pipe_file(target, data, Metadata={"sha256": sha})
        self.fs.invalidate_cache(target)

    def put_file(self, local_path: str | os.PathLike[str], relpath: str) -> None:
        """Atomically upload a local file, streaming rather than reading it into memory."""
        self._put_file(local_path, relpath)

    def _put_file(self, local_path: str | os.PathLike[str], relpath: str) -> FileEntry:
        """Upload and return what was uploaded, hashed from the very bytes copied locally."""
        local = os.fspath(local_path)
        if not os.path.isfile(local):
            raise LakeError(f"not a local file: {local!r}")
        if self._protocol == "file":
            digest = hashlib.sha256()
            copied = 0

            def copy(dst: BinaryIO) -> None:
                nonlocal copied
                with open(local, "rb") as src:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        digest.update(chunk)
                        dst.write(chunk)
                        copied += len(chunk)

            self._atomic_local(relpath, copy)
            return FileEntry(copied, digest.hexdigest())
        self._fspath(relpath)  # validate before doing any work
        entry = FileEntry(os.path.getsize(local), _sha256_local(local))
        self._s3_put_local_file(local, relpath, entry.sha256)
        return entry

    def write_parquet(self, relpath: str, table: pa.Table, **writer_kwargs: Any) -> None:
        """Atomically write ``table`` as Parquet.

        pyarrow writes no timestamps, so equal tables with equal writer options give
        byte-identical files (for a given pyarrow version) and hashes stay stable.
        """
        if self._protocol == "file":
            self._atomic_local(relpath, lambda f: pq.write_table(table, f, **writer_kwargs))
            return
        self._fspath(relpath)  # validate before doing any work
        with tempfile.TemporaryDirectory(prefix="lake-") as tmpdir:
            local = os.path.join(tmpdir, relpath.rsplit("/", 1)[-1])
            pq.write_table(table, local, **writer_kwargs)
            self._s3_put_local_file(local, relpath, _sha256_local(local))

    def delete(self, relpath: str) -> None:
        """Remove one file; a file that is already gone is not an error (re-runs)."""
        self._delete(relpath)

    def delete_tree(self, prefix: str) -> int:
        """Remove every file under ``prefix`` (and, locally, its folders); returns the file count."""
        base = self._fspath(prefix)
        try:
            files = self.fs.find(base, withdirs=False)
        except FileNotFoundError:
            files = []
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(path)
        if self._protocol == "file" and os.path.isdir(base):
            shutil.rmtree(base, ignore_errors=True)
        self.fs.invalidate_cache(base)
        return len(files)

    def _delete(self, relpath: str) -> None:
        path = self._fspath(relpath)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)
        self.fs.invalidate_cache(path)

    # ------------------------------------------------------------------ datasets

    def manifest(self, prefix: str) -> Manifest | None:
        """The prefix's manifest, ``None`` if unpublished; raises if the manifest is corrupt."""
        path = self._fspath(_join(prefix, MANIFEST_NAME))
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return Manifest.from_json(raw)

    def is_published(self, prefix: str) -> bool:
        try:
            return self.manifest(prefix) is not None
        except LakeError:
            return False

    def publish(
        self,
        prefix: str,
        files: Mapping[str, bytes | os.PathLike[str]],
        *,
        prune: bool = True,
    ) -> Manifest:
        """Write ``files`` under ``prefix`` and then, last, the manifest listing them.

        An existing manifest is removed first, so readers never trust a half-replaced
        dataset. With ``prune`` (default) files left from an earlier publication are
        deleted after the new manifest lands, so glob-based readers (DuckDB) do not
        pick up stale partitions.
        """
        self._fspath(prefix, allow_root=True)
        for name, value in files.items():
            _check_relpath(name, allow_root=False)
            if MANIFEST_NAME in name.split("/"):
                raise LakeError(f"{MANIFEST_NAME!r} is reserved: {name!r}")
            if not isinstance(value, (bytes, bytearray, memoryview, os.PathLike)):
                raise TypeError(
                    f"publish values must be bytes or os.PathLike, got {type(value).__name__} "
                    f"for {name!r} (wrap local paths in pathlib.Path)"
                )
        if not files:
            raise LakeError("refusing to publish an empty dataset")

        self._delete(_join(prefix, MANIFEST_NAME))
        entries: dict[str, FileEntry] = {}
        for name in sorted(files):
            value = files[name]
            target = _join(prefix, name)
            if isinstance(value, os.PathLike):
                entries[name] = self._put_file(value, target)
            else:
                data = bytes(value)
                entries[name] = FileEntry(len(data), hashlib.sha256(data).hexdigest())
                self.write_bytes(target, data)

        manifest = Manifest(files=entries)
        self.write_bytes(_join(prefix, MANIFEST_NAME), manifest.to_json().encode("utf-8"))
        if prune:
            self._prune(prefix, manifest)
        return manifest

    def _prune(self, prefix: str, manifest: Manifest) -> None:
        base = self._fspath(prefix, allow_root=True)
        for path in self.fs.find(base, withdirs=False):
            rel = self._rel_to(base, path)
            if rel != MANIFEST_NAME and rel not in manifest.files:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(path)
        if self._protocol == "file":
            # S3 has no empty "directories"; drop local ones so ls() agrees on both backends.
            for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -len(w[0])):
                if dirpath != base:
                    with contextlib.suppress(OSError):
                        os.rmdir(dirpath)  # only succeeds when empty
        self.fs.invalidate_cache(base)

    def publish_dir(self, local_dir: str | os.PathLike[str], prefix: str) -> Manifest:
        """Publish a local folder tree (e.g. a Spark/DuckDB output dir) as one dataset."""
        return self.publish(prefix, {rel: Path(p) for rel, p in _local_tree(local_dir)})

    def verify(self, prefix: str) -> list[str]:
        """Problems with a published dataset (missing, wrong size, wrong hash); [] when good.

        Hashes the actual bytes rather than trusting object metadata, since the point
        is to catch anything that changed behind the manifest's back.
        """
        try:
            manifest = self.manifest(prefix)
        except LakeError as exc:
            return [f"{_join(prefix, MANIFEST_NAME)}: unreadable manifest: {exc}"]
        if manifest is None:
            return [f"{prefix or '<root>'}: not published (no {MANIFEST_NAME})"]
        problems = []
        for name, entry in manifest.files.items():
            relpath = _join(prefix, name)
            try:
                size = self.size(relpath)
            except (FileNotFoundError, LakeError):
                problems.append(f"{relpath}: missing")
                continue
            if size != entry.size:
                problems.append(f"{relpath}: size {size} != manifest {entry.size}")
                continue
            digest = self.sha256(relpath)
            if digest != entry.sha256:
                problems.append(f"{relpath}: sha256 {digest} != manifest {entry.sha256}")
        return problems

    def copy_tree_from_local(self, local_dir: str | os.PathLike[str], prefix: str) -> int:
        """Upload a local tree file by file; returns how many files were actually written.

        Files already present with the same size and sha256 are skipped so landing
        re-runs are cheap (on S3 the hash comes from object metadata when we wrote it).
        """
        self._fspath(prefix, allow_root=True)
        written = 0
        for rel, local in _local_tree(local_dir):
            target = _join(prefix, rel)
            if self._same_content(local, target):
                continue
            self.put_file(local, target)
            written += 1
        return written

    def _same_content(self, local: str, relpath: str) -> bool:
        path = self._fspath(relpath)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return False
        if info.get("type") != "file" or int(info["size"]) != os.path.getsize(local):
            return False
        local_sha = _sha256_local(local)
        if self._protocol == "s3":
            with contextlib.suppress(Exception):
                remote_sha = self.fs.metadata(path).get("sha256")
                if remote_sha:
                    return bool(remote_sha == local_sha)
        return self.sha256(relpath) == local_sha

    def read_parquet(self, relpath_or_prefix: str) -> pa.Table:
        """Read one Parquet file, or the Parquet files a published prefix's manifest lists.

        Prefixes without a manifest are refused: their contents may be half-written.
        Hive-style ``key=value`` folders become columns.
        """
        path = self._fspath(relpath_or_prefix, allow_root=True)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            info = {"type": "directory"}
        if relpath_or_prefix and info.get("type") == "file":
            return pq.read_table(path, filesystem=self.fs)
        manifest = self.manifest(relpath_or_prefix)
        if manifest is None:
            raise LakeError(f"{relpath_or_prefix or '<root>'!r} is not a published dataset")
        parquet = [name for name in manifest.files if name.endswith(".parquet")]
        if not parquet:
            raise LakeError(f"published dataset {relpath_or_prefix!r} lists no .parquet files")
        import pyarrow.dataset as ds  # local import: it drags in pandas (~2 s cold)

        dataset = ds.dataset(
            [self._fspath(_join(relpath_or_prefix, name)) for name in parquet],
            filesystem=self.fs,
            format="parquet",
            partitioning="hive",
            partition_base_dir=path,
        )
        return dataset.to_table()

    # ------------------------------------------------------------------ duckdb

    def register_with_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let ``con`` read this lake's ``s3://`` URLs through s3fs.

        This avoids DuckDB's httpfs extension, which would have to be downloaded and
        configured separately with the same credentials. Local lakes need nothing.
        """
        if self._protocol != "s3":
            return
        fs = self.fs
        name = getattr(fs, "protocol", None)
        registered = con.list_filesystems()
        for candidate in ([name] if isinstance(name, str) else list(name or [])) + [
            type(fs).__name__
        ]:
            if candidate in registered:
                con.unregister_filesystem(candidate)
        con.register_filesystem(fs)

    def duckdb_glob(self, relpath_glob: str) -> str:
        """URL for ``read_parquet('...')``: glob characters allowed, quotes refused.

        Note DuckDB globs the raw prefix: it does not consult manifests, so only glob
        prefixes that :meth:`is_published` accepts.
        """
        if isinstance(relpath_glob, str) and "'" in relpath_glob:
            raise LakeError("single quotes are not allowed in a DuckDB glob")
        return self._to_url(self._fspath(relpath_glob, allow_root=False, allow_glob=True))


def _local_tree(local_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(lake-relative POSIX path, local path) for every file under ``local_dir``, sorted."""
    root = os.fspath(local_dir)
    if not os.path.isdir(root):
        raise LakeError(f"not a local directory: {root!r}")
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(TMP_PREFIX))
        for filename in filenames:
            if filename.startswith(TMP_PREFIX):
                continue
            local = os.path.join(dirpath, filename)
            if os.path.isfile(local):
                rel = Path(os.path.relpath(local, root)).as_posix()
                _check_relpath(rel, allow_root=False)
                out.append((rel, local))
    return sorted(out)
