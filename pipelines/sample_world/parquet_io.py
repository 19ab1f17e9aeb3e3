"""Deterministic, atomic Parquet writing for the sample world.

Same table, same bytes: fixed writer options and no wall-clock metadata, so
that a world generated twice from one seed is byte-identical. The file is
written beside its target and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

WRITER_OPTIONS = {"compression": "zstd", "compression_level": 3, "use_dictionary": True}


def write_parquet(table: pa.Table | pl.DataFrame, path: Path) -> Path:
    """Write `table` to `path` atomically with the world's fixed writer options."""
    if isinstance(table, pl.DataFrame):
        table = table.to_arrow()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, **WRITER_OPTIONS)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(data: bytes, path: Path) -> Path:
    """Write bytes atomically (temp file beside the target, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text atomically with LF line ends (JSON manifests and the like)."""
    return write_bytes(text.encode("utf-8"), path)
