"""Baselines: EASE against a direct numpy computation, most popular, seen items, and Last.fm."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from ml.baselines import EASE, Indexer, MostPopular, recommend_ids, top_n
from ml.lastfm import available, load_lastfm
from ml.metrics import evaluate
from ml.splits import per_user_holdout

X = sp.csr_array(
    np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [1, 1, 1, 0, 0],
            [0, 0, 0, 1, 1],
        ],
        dtype=np.float64,
    )
)


def test_ease_matches_direct_numpy() -> None:
    lam = 0.7
    x = X.toarray()
    p = np.linalg.inv(x.T @ x + lam * np.eye(5))
    b = np.eye(5) - p @ np.diag(1.0 / np.diag(p))
    model = EASE(lam).fit(X)
    assert model.B is not None
    np.testing.assert_allclose(model.B, b, atol=1e-12)
    assert np.allclose(np.diag(model.B), 0.0)
    scores = x @ b
    np.testing.assert_allclose(model.scores(np.arange(5)), scores, atol=1e-12)
    recs = model.recommend(np.arange(5), 2)
    for u in range(5):
        masked = np.where(x[u] > 0, -np.inf, scores[u])
        # compare scores, not columns: symmetric items tie up to rounding
        np.testing.assert_allclose(masked[recs[u]], -np.sort(-masked)[:2], atol=1e-12)


def test_most_popular_and_seen_items() -> None:
    model = MostPopular().fit(X)
    # popularity (distinct users): item0 3, item1 3, item2 3, item3 2, item4 1; ties -> lower column
    assert list(model.recommend(np.array([4]), 3)[0]) == [0, 1, 2]
    assert list(model.recommend(np.array([3]), 3)[0]) == [3, 4, -1]  # only two unseen items left
    assert list(model.recommend(np.array([3]), 3, exclude_seen=False)[0]) == [0, 1, 2]
    recs = EASE(1.0).fit(X).recommend(np.arange(5), 5)
    for u in range(5):
        chosen = recs[u][recs[u] >= 0]
        assert not set(chosen) & set(X[[u]].indices)
        assert len(chosen) == 5 - X[[u]].nnz


def test_top_n_pads_and_breaks_ties() -> None:
    out = top_n(np.array([[1.0, 3.0, 3.0]]), 5)
    assert list(out[0]) == [1, 2, 0, -1, -1]


def test_recommend_ids_maps_back() -> None:
    frame = pl.DataFrame({"user": ["a", "a", "b"], "item": [10, 20, 20], "weight": [1.0, 2.0, 3.0]})
    idx = Indexer.from_frame(frame)
    model = MostPopular().fit(idx.matrix(frame))
    assert recommend_ids(model, idx, ["a", "b", "zz"], 5) == {"a": [], "b": [10], "zz": []}


@pytest.mark.skipif(not available(), reason="Last.fm data set not in ../shared")
def test_ease_beats_popular_on_lastfm_holdout() -> None:
    """Seeded 20% holdout; models fit on artists with >= 20 train listeners (~800) to keep the
    items x items inverse small; the test set keeps every artist (misses count for both)."""
    split = per_user_holdout(load_lastfm().interactions, 0.2, seed=0)
    listeners = split.train.group_by("item").len().filter(pl.col("len") >= 20)["item"]
    train = split.train.filter(pl.col("item").is_in(listeners.implode()))
    idx = Indexer(
        split.train["user"].unique().sort().to_list(), train["item"].unique().sort().to_list()
    )
    assert 300 < len(idx.items) < 1500
    matrix = idx.matrix(train)
    test = split.test_sets()
    pop = evaluate(
        recommend_ids(MostPopular().fit(matrix), idx, test, 10), test, ks={"ndcg": (10,)}
    )
    ease = evaluate(recommend_ids(EASE(200.0).fit(matrix), idx, test, 10), test, ks={"ndcg": (10,)})
    assert pop["users"] == ease["users"] > 1800
    assert ease["ndcg@10"] > 1.5 * pop["ndcg@10"] > 0
