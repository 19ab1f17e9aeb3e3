"""Train/test splits for recommender evaluation (issue 7), and their on-disk format.

Two protocols:

* :func:`temporal_split` (sample world): train on events up to and including a
  cutoff day, test on the ``test_days`` days after it. Nothing at or after the
  first test instant reaches train, so there is no leakage from the future.
* :func:`per_user_holdout` (Last.fm, which has no listening times): a seeded
  random ``fraction`` of each user's items goes to test.

Both return :class:`Split` frames with the columns ``user``, ``item``,
``weight`` (one row per user-item pair), the format :func:`save_split` writes
as tab-separated ``train.tsv`` / ``test.tsv`` with that header (the CLI format
of the issue), plus ``split.json`` with the protocol's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

COLUMNS = ("user", "item", "weight")


@dataclass(frozen=True)
class Split:
    """A train and a test frame (``user``, ``item``, ``weight``) and how they were made."""

    train: pl.DataFrame
    test: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def test_sets(self) -> dict[Any, set[Any]]:
        """``{user: {items}}`` of the test frame, the shape :func:`ml.metrics.evaluate` takes."""
        grouped = self.test.group_by("user").agg(pl.col("item")).sort("user")
        return {u: set(items) for u, items in grouped.iter_rows()}


def aggregate(
    events: pl.DataFrame,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
) -> pl.DataFrame:
    """One row per (user, item): ``weight`` = sum of ``weight_col``, or the event count without one."""
    weight = pl.col(weight_col).sum() if weight_col else pl.len()
    return (
        events.group_by(pl.col(user_col).alias("user"), pl.col(item_col).alias("item"))
        .agg(weight.cast(pl.Float64).alias("weight"))
        .sort("user", "item")
    )


def temporal_split(
    events: pl.DataFrame,
    cutoff_day: dt.date,
    test_days: int = 7,
    *,
    time_col: str = "started_at",
    user_col: str = "user_id",
    item_col: str = "track_id",
    weight_col: str | None = None,
    warm_only: bool = True,
    drop_repeats: bool = True,
) -> Split:
    """Train = events on days <= ``cutoff_day``; test = events on the ``test_days`` days after it.

    ``time_col`` may be a date or a datetime (compared by its calendar day).
    Events after the test window are dropped.

    ``warm_only`` (default) keeps in test only users and items seen in train:
    every model here (popular, ALS, EASE) can only score what it was fitted on,
    so cold users/items would count as misses for all of them alike and blur
    the comparison; cold start is evaluated on its own. ``drop_repeats``
    (default) removes test pairs already in train: with ``exclude_seen=True``
    they can never be recommended, and the task is discovering new music.
    """
    day = pl.col(time_col).cast(pl.Date)
    first_test = cutoff_day + dt.timedelta(days=1)
    end = first_test + dt.timedelta(days=test_days)
    train = aggregate(events.filter(day <= cutoff_day), user_col, item_col, weight_col)
    test = aggregate(
        events.filter((day >= first_test) & (day < end)), user_col, item_col, weight_col
    )
    test = _filter_test(train, test, warm_only=warm_only, drop_repeats=drop_repeats)
    meta = {
        "protocol": "temporal",
        "cutoff_day": cutoff_day.isoformat(),
        "test_days": test_days,
        "warm_only": warm_only,
        "drop_repeats": drop_repeats,
    }
    return Split(train, test, meta)


def _filter_test(
    train: pl.DataFrame, test: pl.DataFrame, *, warm_only: bool, drop_repeats: bool
) -> pl.DataFrame:
    if warm_only:
        test = test.filter(
            pl.col("user").is_in(train["user"].unique().implode())
            & pl.col("item").is_in(train["item"].unique().implode())
        )
    if drop_repeats:
        test = test.join(train.select("user", "item"), on=["user", "item"], how="anti")
    return test.sort("user", "item")


def per_user_holdout(
    interactions: pl.DataFrame,
    fraction: float = 0.2,
    seed: int = 0,
    *,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = "weight",
) -> Split:
    """Move round(``fraction`` x n_u) of each user's n_u items, drawn with ``seed``, to test.

    Every user keeps at least one train item (users with a single item stay in
    train only), so each tested user has a history to recommend from. The draw
    is deterministic: pairs are sorted by (user, item) before one
    ``numpy.random.default_rng(seed)`` key per pair is drawn, so the input
    order does not matter. Rounding is half up (n_u = 5 at 0.2 -> 1 item,
    n_u = 3 -> 1, n_u = 2 -> 0 at 0.2).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    pairs = aggregate(interactions, user_col, item_col, weight_col)
    keys = np.random.default_rng(seed).random(pairs.height)
    ranked = pairs.with_columns(pl.Series("_key", keys)).with_columns(
        pl.col("_key").rank("ordinal").over("user").alias("_rank"),
        pl.len().over("user").alias("_n"),
    )
    n_test = pl.min_horizontal((pl.col("_n") * fraction + 0.5).floor(), pl.col("_n") - 1)
    is_test = pl.col("_rank") <= n_test
    train = ranked.filter(~is_test).select(COLUMNS).sort("user", "item")
    test = ranked.filter(is_test).select(COLUMNS).sort("user", "item")
    meta = {"protocol": "per_user_holdout", "fraction": fraction, "seed": seed}
    return Split(train, test, meta)


# ------------------------------------------------------------------- files


def write_interactions(frame: pl.DataFrame, path: Path) -> None:
    """Write ``user``/``item``/``weight`` as TSV with that header line."""
    frame.select(COLUMNS).write_csv(path, separator="\t")


def read_interactions(path: Path) -> pl.DataFrame:
    """Read a ``user\\titem\\tweight`` TSV; ids keep the type polars infers (ints stay ints)."""
    frame = pl.read_csv(path, separator="\t", infer_schema_length=None)
    if tuple(frame.columns) != COLUMNS:
        raise ValueError(f"{path}: expected header columns {list(COLUMNS)}, got {frame.columns}")
    return frame.with_columns(pl.col("weight").cast(pl.Float64))


def save_split(split: Split, directory: Path) -> Path:
    """Write ``train.tsv``, ``test.tsv`` and ``split.json`` (the parameters) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_interactions(split.train, directory / "train.tsv")
    write_interactions(split.test, directory / "test.tsv")
    (directory / "split.json").write_text(json.dumps(split.meta, indent=2, sort_keys=True) + "\n")
    return directory


def load_split(directory: Path) -> Split:
    """Read back what :func:`save_split` wrote (``split.json`` is optional)."""
    directory = Path(directory)
    meta_path = directory / "split.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Split(
        read_interactions(directory / "train.tsv"), read_interactions(directory / "test.tsv"), meta
    )
