"""Metrics: hand-computed cases, and a randomized cross-check against ranx."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.metrics import (
    catalog_coverage,
    evaluate,
    gini,
    gini_of_exposure,
    intra_list_diversity,
    local_share,
    map_at_k,
    ndcg_at_k,
    novelty,
    recall_at_k,
)


def test_hand_computed_accuracy() -> None:
    ranked = ["a", "x", "b", "y"]
    relevant = {"a", "b", "c"}
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / idcg)
    # IDCG over min(|relevant|, k) = 2 ranks at k = 2; only "a" is a hit there.
    assert ndcg_at_k(ranked, relevant, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)  # / |relevant|, not / min(3, 2)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert map_at_k(ranked, relevant, 4) == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert ndcg_at_k(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at_k([], relevant, 10) == 0.0
    assert ndcg_at_k(["a"], set(), 10) == 0.0


def test_beyond_accuracy() -> None:
    lists = [["a", "b"], ["a", "c"]]
    assert catalog_coverage(lists, ["a", "b", "c", "d"], 2) == pytest.approx(3 / 4)
    assert catalog_coverage(lists, ["a", "b", "c", "d"], 1) == pytest.approx(1 / 4)
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)
    # exposures a=2, b=1, c=1, d=0 -> sorted 0,1,1,2: sum((2i-n-1)x)/(n*sum) = (0-1+1+6)/(4*4)
    assert gini_of_exposure(lists, ["a", "b", "c", "d"], 2) == pytest.approx(6 / 16)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    index = {"a": 0, "b": 1, "c": 2}
    expected = np.mean([1.0, 1 - 1 / math.sqrt(2)])
    assert intra_list_diversity(lists, index, sp.csr_array(vectors), 2) == pytest.approx(expected)
    assert intra_list_diversity(lists, index, vectors, 2) == pytest.approx(expected)
    counts = {"a": 4, "b": 1}
    assert novelty(lists, counts, 4, 2) == pytest.approx(np.mean([(0 + 2) / 2, (0 + 2) / 2]))
    shares = local_share(
        {"u1": ["a", "b"], "u2": ["a", "c"], "u3": ["a"]},
        {"u1": "CD", "u2": "FR"},
        {"a": "CD", "b": "CD"},
        2,
    )
    assert shares == pytest.approx((1.0 + 0.0) / 2)


def test_evaluate_skips_users_without_test_items() -> None:
    recs = {"u1": ["a", "b"], "u2": ["c"], "u3": ["a"]}
    test = {"u1": {"a"}, "u2": set(), "u4": {"z"}}
    out = evaluate(recs, test, ks={"recall": (10,)}, catalog=["a", "b", "c"])
    assert out["users"] == 2  # u1 and u4 (no list -> 0); u2 skipped, u3 not in test
    assert out["recall@10"] == pytest.approx(0.5)
    assert out["coverage@10"] == pytest.approx(2 / 3)
    assert "novelty@10" not in out


def _random_case(seed: int) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    rng = np.random.default_rng(seed)
    n_items = 80
    recs: dict[str, list[str]] = {}
    test: dict[str, set[str]] = {}
    for u in range(60):
        length = int(rng.integers(0, 70))  # some lists shorter than k, some empty
        recs[f"u{u}"] = [f"i{j}" for j in rng.permutation(n_items)[:length]]
        n_rel = int(rng.integers(1, 40))
        test[f"u{u}"] = {f"i{j}" for j in rng.choice(n_items, n_rel, replace=False)}
    return recs, test


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_ranx(seed: int) -> None:
    ranx = pytest.importorskip("ranx")
    recs, test = _random_case(seed)
    ours = evaluate(recs, test)
    qrels = ranx.Qrels({u: {i: 1 for i in rel} for u, rel in test.items()})
    # Strictly decreasing scores keep our order; ranx needs every query in the run.
    run = ranx.Run(
        {u: {i: float(len(r) - pos) for pos, i in enumerate(r)} for u, r in recs.items()}
    )
    theirs = ranx.evaluate(
        qrels, run, ["ndcg@10", "recall@10", "recall@50", "map@10"], make_comparable=True
    )
    for metric in ("ndcg@10", "recall@10", "recall@50", "map@10"):
        assert ours[metric] == pytest.approx(theirs[metric], abs=1e-9), metric
