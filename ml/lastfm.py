"""Loader for the Last.fm HetRec 2011 (2K users) data set, read in place from ``../shared``.

The files are for non-commercial research use and must not be copied into the
repository (see the data set's README), so the loader reads them where they
lie: ``<repo root>/../shared/datasets/lastfm-hetrec2011-2k/`` by default, or
the folder named by the ``CONGOWAVE_LASTFM_DIR`` environment variable, or the
``directory`` argument.

Files are tab separated with a header line; all but ``artists.dat`` have CRLF
line ends. ``artists.dat`` is UTF-8, ``tags.dat`` ISO-8859-1 (latin-1); the
numeric files are ASCII. Each file is decoded with its own encoding, so tag
values such as "música latina" come out right. Artists are the items.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

ENV_DIR = "CONGOWAVE_LASTFM_DIR"
DEFAULT_DIR = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "lastfm-hetrec2011-2k"
)

# file -> (encoding, {column in the file: (name in the frame, dtype)})
_FILES: dict[str, tuple[str, dict[str, tuple[str, pl.DataType]]]] = {
    "user_artists.dat": (
        "ascii",
        {
            "userID": ("user", pl.Int32()),
            "artistID": ("item", pl.Int32()),
            "weight": ("weight", pl.Int64()),
        },
    ),
    "artists.dat": (
        "utf-8",
        {
            "id": ("item", pl.Int32()),
            "name": ("name", pl.String()),
            "url": ("url", pl.String()),
            "pictureURL": ("picture_url", pl.String()),
        },
    ),
    "tags.dat": ("latin-1", {"tagID": ("tag", pl.Int32()), "tagValue": ("tag_value", pl.String())}),
    "user_taggedartists.dat": (
        "ascii",
        {
            "userID": ("user", pl.Int32()),
            "artistID": ("item", pl.Int32()),
            "tagID": ("tag", pl.Int32()),
            "day": ("day", pl.Int8()),
            "month": ("month", pl.Int8()),
            "year": ("year", pl.Int16()),
        },
    ),
}
_TAGGED_PARTS = ("user_taggedartists.dat", "user_taggedartists_2.dat")


class LastFMFormatError(ValueError):
    """A Last.fm file is missing or does not have the expected header, columns or types."""


@dataclass(frozen=True)
class LastFM:
    """The data set as polars frames; ``interactions`` is the user-artist play-count table."""

    interactions: pl.DataFrame  # user, item, weight (play count)
    artists: pl.DataFrame  # item, name, url, picture_url
    tags: pl.DataFrame  # tag, tag_value
    tag_assignments: pl.DataFrame  # user, item, tag, day, month, year
    directory: Path


def lastfm_dir(directory: Path | str | None = None) -> Path:
    """The data folder: the argument, else ``$CONGOWAVE_LASTFM_DIR``, else ``../shared`` next to the repo."""
    chosen = directory or os.environ.get(ENV_DIR) or DEFAULT_DIR
    return Path(chosen).resolve()


def available(directory: Path | str | None = None) -> bool:
    """Whether ``user_artists.dat`` is there (tests skip when it is not)."""
    return (lastfm_dir(directory) / "user_artists.dat").is_file()


def read_table(path: Path, name: str | None = None) -> pl.DataFrame:
    """Read one HetRec file with its encoding, checked header and typed, renamed columns."""
    name = name or path.name
    encoding, columns = _FILES[name]
    if not path.is_file():
        raise LastFMFormatError(
            f"{path}: file not found (is the Last.fm data set at {path.parent}?)"
        )
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise LastFMFormatError(f"{path}: not valid {encoding}: {exc}") from exc
    # user_taggedartists.dat ends with an empty line (an artefact of splitting the original
    # file in two): trailing blank lines are not rows. Blank lines inside the file are errors.
    text = text.replace("\r\n", "\n").rstrip("\n") + "\n"
    header = text.split("\n", 1)[0].split("\t")
    if header != list(columns):
        raise LastFMFormatError(f"{path}: expected header {list(columns)}, got {header}")
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            separator="\t",
            quote_char=None,
            schema={col: dtype for col, (_, dtype) in columns.items()},
        )
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise LastFMFormatError(f"{path}: malformed rows: {exc}") from exc
    ids = [col for col, (_, dtype) in columns.items() if dtype.is_integer()]
    missing = frame.select(pl.any_horizontal(pl.col(ids).is_null()).arg_true()).to_series()
    if missing.len():
        line = int(missing[0]) + 2  # 1-based, after the header
        raise LastFMFormatError(f"{path}: line {line}: empty or missing numeric field")
    return frame.rename({col: new for col, (new, _) in columns.items()})


def load_lastfm(directory: Path | str | None = None) -> LastFM:
    """Load the four tables; both parts of the tag assignments are concatenated."""
    root = lastfm_dir(directory)
    parts = [root / p for p in _TAGGED_PARTS if p == _TAGGED_PARTS[0] or (root / p).is_file()]
    tagged = pl.concat([read_table(p, "user_taggedartists.dat") for p in parts])
    return LastFM(
        interactions=read_table(root / "user_artists.dat"),
        artists=read_table(root / "artists.dat"),
        tags=read_table(root / "tags.dat"),
        tag_assignments=tagged,
        directory=root,
    )


def artist_tag_matrix(
    data: LastFM, items: list[int] | np.ndarray, min_artists: int = 1
) -> tuple[sp.csr_array, list[int]]:
    """Content features: rows follow ``items``, columns are tags, value = users who gave that tag.

    Tags applied to fewer than ``min_artists`` distinct artists are dropped (they
    cannot make two artists similar). Artists without tags get an all-zero row.
    Returns the matrix and the tag ids of its columns.
    """
    counts = data.tag_assignments.group_by("item", "tag").agg(pl.len().alias("n"))
    spread = (
        counts.group_by("tag")
        .agg(pl.len().alias("artists"))
        .filter(pl.col("artists") >= min_artists)
    )
    tag_ids = sorted(spread["tag"].to_list())
    tag_pos = {t: j for j, t in enumerate(tag_ids)}
    item_pos = {int(i): r for r, i in enumerate(items)}
    kept = counts.filter(pl.col("tag").is_in(tag_ids) & pl.col("item").is_in(list(item_pos)))
    rows = np.array([item_pos[i] for i in kept["item"].to_list()], dtype=np.int64)
    cols = np.array([tag_pos[t] for t in kept["tag"].to_list()], dtype=np.int64)
    matrix = sp.csr_array(
        (kept["n"].to_numpy().astype(np.float64), (rows, cols)), shape=(len(item_pos), len(tag_ids))
    )
    return matrix, tag_ids
