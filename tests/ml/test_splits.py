"""Splits: no leakage across the temporal cutoff, deterministic holdout, TSV round trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from ml.splits import load_split, per_user_holdout, save_split, temporal_split


def _events() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 3000
    start = dt.datetime(2025, 1, 1)
    return pl.DataFrame(
        {
            "user_id": rng.integers(0, 40, n),
            "track_id": rng.integers(0, 120, n),
            "started_at": [
                start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 30 * 24 * 60, n)
            ],
        }
    )


def test_temporal_split_has_no_leakage() -> None:
    events = _events()
    cutoff = dt.date(2025, 1, 20)
    split = temporal_split(events, cutoff, 7)
    days = events.with_columns(pl.col("started_at").dt.date().alias("d"))
    train_pairs = days.filter(pl.col("d") <= cutoff)
    assert split.train["weight"].sum() == train_pairs.height  # every pre-cutoff play, nothing later
    window = days.filter((pl.col("d") > cutoff) & (pl.col("d") <= cutoff + dt.timedelta(days=7)))
    window_pairs = set(zip(window["user_id"], window["track_id"], strict=True))
    test_pairs = set(zip(split.test["user"], split.test["item"], strict=True))
    assert test_pairs <= window_pairs  # nothing from after the window
    train_set = set(zip(split.train["user"], split.train["item"], strict=True))
    assert not test_pairs & train_set  # drop_repeats
    assert set(split.test["user"]) <= set(split.train["user"])  # warm_only
    assert set(split.test["item"]) <= set(split.train["item"])
    assert split.test.height > 0
    loose = temporal_split(events, cutoff, 7, warm_only=False, drop_repeats=False)
    assert set(zip(loose.test["user"], loose.test["item"], strict=True)) == window_pairs


def _interactions() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    rows = [
        (u, i, float(rng.integers(1, 100)))
        for u in range(50)
        for i in rng.choice(200, u % 12 + 1, replace=False)
    ]
    return pl.DataFrame(rows, schema=["user", "item", "weight"], orient="row")


def test_per_user_holdout_is_deterministic_and_sized() -> None:
    data = _interactions()
    a = per_user_holdout(data, 0.2, seed=7)
    b = per_user_holdout(data.sample(fraction=1.0, shuffle=True, seed=1), 0.2, seed=7)
    assert a.test.equals(b.test) and a.train.equals(b.train)  # input order does not matter
    c = per_user_holdout(data, 0.2, seed=8)
    assert not a.test.equals(c.test)
    assert a.train.height + a.test.height == data.height
    n = data.group_by("user").len().sort("user")
    t = a.test.group_by("user").len().rename({"len": "t"})
    merged = n.join(t, on="user", how="left").fill_null(0)
    expected = np.minimum(
        np.floor(merged["len"].to_numpy() * 0.2 + 0.5), merged["len"].to_numpy() - 1
    )
    assert (merged["t"].to_numpy() == expected).all()
    assert set(a.train["user"]) == set(data["user"])  # every user keeps a train item


def test_save_load_round_trip(tmp_path: Path) -> None:
    split = per_user_holdout(_interactions(), 0.2, seed=1)
    save_split(split, tmp_path / "s")
    assert (tmp_path / "s" / "train.tsv").read_text().splitlines()[0] == "user\titem\tweight"
    back = load_split(tmp_path / "s")
    assert back.train.equals(split.train) and back.test.equals(split.test)
    assert back.meta == split.meta
    assert back.test_sets() == split.test_sets()
