"""ALS candidates and interaction weights (issue 7, steps 1-2) on tiny synthetic data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from ml.als import ALSRecommender, FactorModel, bm25, tune_als
from ml.baselines import recommend_ids
from ml.interactions import interaction_weights, to_csr

AS_OF = dt.date(2026, 3, 31)


def block_matrix(seed: int = 0) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """3 blocks of 10 users x 8 items; each user has 5 of its block's 8 items, nothing else."""
    rng = np.random.default_rng(seed)
    n_blocks, users, items = 3, 10, 8
    rows, cols = [], []
    for b in range(n_blocks):
        for u in range(users):
            for i in rng.choice(items, 5, replace=False):
                rows.append(b * users + u)
                cols.append(b * items + int(i))
    x = sp.csr_array(
        (np.ones(len(rows)), (rows, cols)), shape=(n_blocks * users, n_blocks * items)
    )
    return x, np.repeat(np.arange(n_blocks), users), np.repeat(np.arange(n_blocks), items)


def small_als(**kw) -> ALSRecommender:
    params = dict(factors=3, regularization=0.01, alpha=5.0, iterations=10, random_state=7)
    params.update(kw)
    return ALSRecommender(**params, use_gpu=False, num_threads=1)


def test_als_recovers_blocks_and_excludes_seen() -> None:
    x, user_block, item_block = block_matrix()
    model = small_als().fit(x)
    recs = model.recommend(np.arange(x.shape[0]), 3)
    assert recs.shape == (30, 3) and (recs >= 0).all()
    # the 3 unseen items of each user's own block are its top 3
    assert (item_block[recs] == user_block[:, None]).all()
    seen = x.toarray() > 0
    assert not seen[np.arange(30)[:, None], recs].any()
    # asking for more than is unseen pads with -1
    full = model.recommend(np.array([0]), 24)
    assert (full[0, -5:] == -1).all() and (full[0, :19] >= 0).all()
    # without exclusion, seen items come back: the top 8 is the user's whole block
    incl = model.recommend(np.array([0]), 8, exclude_seen=False)
    assert set(incl[0]) == set(range(8)) and seen[0, incl[0]].any()
    assert model.user_factors.shape == (30, 3) and model.item_factors.shape == (24, 3)


def test_similar_items_stay_in_block() -> None:
    x, _, item_block = block_matrix()
    model = small_als().fit(x)
    cols, sims = model.similar_items(np.array([0, 9, 20]), 3)
    assert (item_block[cols] == item_block[[0, 9, 20]][:, None]).all()
    assert not (cols == np.array([[0], [9], [20]])).any()
    assert np.all(sims[:, :-1] >= sims[:, 1:])


def test_deterministic_with_random_state() -> None:
    x, _, _ = block_matrix()
    a, b = small_als().fit(x), small_als().fit(x)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.recommend(np.arange(30), 5), b.recommend(np.arange(30), 5))
    c = small_als(random_state=8).fit(x)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_bm25_option_and_factor_model() -> None:
    x, user_block, item_block = block_matrix()
    weighted = bm25(x)
    assert weighted.shape == x.shape and weighted.nnz == x.nnz
    model = small_als(bm25=True).fit(x)
    recs = model.recommend(np.arange(30), 3)
    assert (item_block[recs] == user_block[:, None]).all()
    same = FactorModel.from_factors(model.user_factors, model.item_factors, x)
    np.testing.assert_array_equal(same.recommend(np.arange(30), 3), recs)


def test_tune_als_picks_best_on_validation() -> None:
    x, _, _ = block_matrix()
    dense = x.toarray()
    valid = {}
    train = dense.copy()
    for u in range(30):
        held = int(np.flatnonzero(dense[u])[0])
        train[u, held] = 0
        valid[u] = {held}
    valid[99] = set()  # no items: skipped
    best, table = tune_als(
        sp.csr_array(train), valid, {"factors": [1, 3]}, base={"iterations": 8, "random_state": 0,
                                                              "use_gpu": False}
    )
    assert [r["factors"] for r in table] == [1, 3]
    scores = [r["ndcg@10"] for r in table]
    assert best["factors"] == [1, 3][int(np.argmax(scores))] and best["iterations"] == 8
    assert max(scores) > 0.3


# ------------------------------------------------------------------ interactions


def history(rows: list[tuple]) -> pl.DataFrame:
    cols = ["play_date", "user_id", "track_id", "plays", "streams", "skips", "saves"]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.col("play_date").cast(pl.Date))


def weight_of(rows: list[tuple], **kw) -> float:
    out = interaction_weights(history(rows), AS_OF, **kw)
    return float(out["weight"][0])


D = dt.date(2026, 3, 30)


def test_weights_monotonic() -> None:
    base = weight_of([(D, 1, 1, 4, 3, 1, 0)])
    assert weight_of([(D, 1, 1, 6, 5, 1, 0)]) > base  # more streams
    assert weight_of([(D, 1, 1, 5, 3, 2, 0)]) < base  # more skips
    assert weight_of([(D - dt.timedelta(days=60), 1, 1, 4, 3, 1, 0)]) < base  # older
    assert weight_of([(D, 1, 1, 4, 3, 1, 1)]) > base  # a save
    # half-life: 30 days halves the (pre-log) positive mass
    old = weight_of([(AS_OF - dt.timedelta(days=30), 1, 1, 4, 4, 0, 0)])
    assert old == pytest.approx(np.log1p(2.0))
    assert weight_of([(D, 1, 1, 3, 0, 3, 0)]) == 0.0  # skipped only: no positive


def test_weights_frame_aggregates_and_is_deterministic() -> None:
    rows = [
        (D, 2, 9, 2, 2, 0, 1),
        (D - dt.timedelta(days=3), 1, 5, 4, 2, 2, 0),
        (D, 1, 5, 1, 1, 0, 0),
        (AS_OF + dt.timedelta(days=1), 1, 5, 9, 9, 0, 0),  # after as_of: ignored
    ]
    out = interaction_weights(history(rows), AS_OF)
    assert out.columns == [
        "user_id", "track_id", "weight", "plays", "skip_rate", "save_rate", "days_since"
    ]
    assert out.select("user_id", "track_id").rows() == [(1, 5), (2, 9)]
    first = out.row(0, named=True)
    assert first["plays"] == 5 and first["skip_rate"] == pytest.approx(0.4)
    assert first["days_since"] == 1 and first["save_rate"] == 0.0
    shuffled = interaction_weights(history(rows[::-1]), AS_OF)
    assert out.equals(shuffled)
    matrix, indexer = to_csr(out)
    assert matrix.shape == (2, 2) and indexer.users == [1, 2] and indexer.items == [5, 9]
    assert matrix[1, 1] == pytest.approx(out["weight"][1])


def test_weights_errors() -> None:
    with pytest.raises(ValueError, match="no listening history"):
        interaction_weights(history([]), AS_OF)
    with pytest.raises(ValueError, match="no listening history"):
        interaction_weights(history([(AS_OF + dt.timedelta(days=1), 1, 1, 1, 1, 0, 0)]), AS_OF)
    with pytest.raises(ValueError, match="lacks columns"):
        interaction_weights(history([(D, 1, 1, 1, 1, 0, 0)]).drop("skips"), AS_OF)


def test_weights_to_recommendations_end_to_end() -> None:
    rows = []
    for u in range(12):
        block = u % 2
        for t in range(6):
            if (u + t) % 3:  # each user misses 2 of its block's 6 tracks
                rows.append((D, u, block * 100 + t, 3, 3, 0, 0))
    weights = interaction_weights(history(rows), AS_OF)
    matrix, indexer = to_csr(weights)
    model = small_als(factors=2).fit(matrix)
    recs = recommend_ids(model, indexer, [0, 1, 404], n=2)
    assert all(t < 100 for t in recs[0]) and all(t >= 100 for t in recs[1]) and recs[404] == []
