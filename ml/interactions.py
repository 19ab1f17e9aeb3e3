"""Confidence weights from listening history (issue 7, step 1).

Input is the dbt mart ``user_listening_history`` (grain ``play_date, user_id,
track_id``; columns ``plays``, ``streams``, ``skips``, ``saves`` among others,
fraud already removed). :func:`interaction_weights` folds all days up to and
including ``as_of`` into one row per (user, track) with

    decayed  = sum over days d of 0.5 ** (age_d / half_life_days)
                 * (streams_d + save_weight * saves_d)
    weight   = log1p(decayed) * (1 - skip_penalty * skip_rate)

where ``age_d = as_of - play_date`` in days and ``skip_rate = skips / plays``
over all the pair's days. Why each part:

* **streams, not plays**: a counted stream (the 30 s rule) is the explicit-ish
  positive; a play that was neither a stream nor a skip adds nothing.
* **saves** are a stronger, rarer signal than a stream: one save counts as
  ``save_weight`` streams (default 5) on the day it happened, so it decays too.
* **recency**: exponential decay with a half-life (default 30 days): taste
  drifts, and a track streamed 20 times last year should weigh about as much as
  a couple of streams last week. Decaying per day keeps the weight a sum, so old
  and new listening of the same track add up.
* **log1p** compresses repeat listening (Hu, Koren & Volinsky 2008 use
  ``1 + alpha * log(1 + r / eps)``): the 500th stream of a track says much less
  than the 2nd, and without it a few obsessive pairs dominate the ALS loss. The
  ALS ``alpha`` (see :mod:`ml.als`) is the remaining linear scale, tuned there.
  (BM25 over the item x user matrix is the alternative, offered by ``ml.als``.)
* **skips** scale the weight down linearly: at ``skip_penalty = 0.8`` (default)
  a pair skipped every time keeps 20% of its (already small, since skipped plays
  are rarely streams) weight. Skipped-only pairs get weight 0; :func:`to_csr`
  drops zeros, so they are neither positives for ALS nor "seen" items.

All parameters must be non-negative (``skip_penalty`` in [0, 1]), so the weight
is monotone: more streams or saves raise it, more skips or older listening
lower it. The output is sorted by ``user_id, track_id``: same input, same frame.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import scipy.sparse as sp

from ml.baselines import Indexer

REQUIRED = ("play_date", "user_id", "track_id", "plays", "streams", "skips", "saves")
OUTPUT = ("user_id", "track_id", "weight", "plays", "skip_rate", "save_rate", "days_since")


def interaction_weights(
    history: pl.DataFrame,
    as_of: dt.date,
    *,
    half_life_days: float = 30.0,
    save_weight: float = 5.0,
    skip_penalty: float = 0.8,
) -> pl.DataFrame:
    """One row per (user, track) listened to on or before ``as_of``: the confidence weight.

    Returns ``user_id, track_id, weight, plays, skip_rate, save_rate, days_since``
    (``days_since`` = days from the last play day to ``as_of``). Days after
    ``as_of`` are ignored (no leakage into a train matrix). Raises ``ValueError``
    on missing columns, bad parameters, or when no history is left.
    """
    missing = [c for c in REQUIRED if c not in history.columns]
    if missing:
        raise ValueError(f"listening history lacks columns {missing}")
    if half_life_days <= 0:
        raise ValueError("half_life_days must be > 0")
    if save_weight < 0:
        raise ValueError("save_weight must be >= 0")
    if not 0.0 <= skip_penalty <= 1.0:
        raise ValueError("skip_penalty must be in [0, 1]")
    frame = history.select(REQUIRED).with_columns(pl.col("play_date").cast(pl.Date))
    frame = frame.filter(pl.col("play_date") <= pl.lit(as_of, dtype=pl.Date))
    if frame.is_empty():
        raise ValueError(f"no listening history on or before {as_of}")
    age = (pl.lit(as_of, dtype=pl.Date) - pl.col("play_date")).dt.total_days().cast(pl.Float64)
    decay = pl.lit(0.5, dtype=pl.Float64).pow(age / half_life_days)
    per_pair = (
        frame.with_columns(
            (decay * (pl.col("streams") + save_weight * pl.col("saves"))).alias("_decayed"),
            age.alias("_age"),
        )
        .group_by("user_id", "track_id")
        .agg(
            pl.col("_decayed").sum(),
            pl.col("plays").sum().cast(pl.Int64),
            pl.col("skips").sum().cast(pl.Float64).alias("_skips"),
            pl.col("saves").sum().cast(pl.Float64).alias("_saves"),
            pl.col("_age").min().cast(pl.Int64).alias("days_since"),
        )
    )
    plays = pl.col("plays").cast(pl.Float64)
    rate = lambda col: pl.when(plays > 0).then(pl.col(col) / plays).otherwise(0.0)  # noqa: E731
    out = (
        per_pair.with_columns(
            rate("_skips").clip(0.0, 1.0).alias("skip_rate"),
            rate("_saves").alias("save_rate"),
        )
        .with_columns(
            (pl.col("_decayed").log1p() * (1.0 - skip_penalty * pl.col("skip_rate")))
            .clip(lower_bound=0.0)
            .alias("weight")
        )
        .select(OUTPUT)
        .sort("user_id", "track_id")
    )
    return out


def indexer_for(weights: pl.DataFrame) -> Indexer:
    """An :class:`Indexer` over the (sorted) users and tracks of a weights frame."""
    return Indexer(
        weights["user_id"].unique().sort().to_list(), weights["track_id"].unique().sort().to_list()
    )


def to_csr(weights: pl.DataFrame, indexer: Indexer | None = None) -> tuple[sp.csr_array, Indexer]:
    """User x track CSR of ``weight`` (zeros dropped) and the indexer used (built when not given).

    Pairs with users or tracks unknown to a given indexer are dropped (as
    :meth:`Indexer.matrix` does).
    """
    indexer = indexer or indexer_for(weights)
    frame = weights.select(
        pl.col("user_id").alias("user"), pl.col("track_id").alias("item"), "weight"
    )
    matrix = indexer.matrix(frame)
    matrix.eliminate_zeros()
    return matrix, indexer
