"""Offline metrics for ranked recommendation lists (issue 7), the same code for every model.

Accuracy metrics use *binary* relevance: an item is relevant to a user if it is
in that user's test set, whatever its play count. Definitions (chosen to match
``ranx`` exactly, which ``tests/ml/test_metrics.py`` checks to 1e-9):

* ``NDCG@k`` = DCG@k / IDCG@k with DCG@k = sum over ranks i = 1..k of
  rel_i / log2(i + 1) (Järvelin's form; the same as Burges' for binary gains)
  and IDCG@k the DCG of an ideal list, i.e. over the first min(|relevant|, k) ranks.
* ``Recall@k`` = hits in the top k / |relevant| (ranx's definition, *not*
  hits / min(|relevant|, k): a user with 30 test items cannot reach 1 at k = 10).
* ``MAP@k`` = mean over users of AP@k, with AP@k = sum of Precision@r over the
  ranks r <= k that hold a hit, divided by |relevant| (ranx's denominator, again
  not min(|relevant|, k)).

Lists shorter than k simply have no hits past their end. A recommended item
repeated in one list is a caller bug and is not deduplicated.

Beyond-accuracy metrics (catalogue coverage, Gini of exposure, intra-list
diversity, novelty, local share) are computed on the top-k lists of the same
users as the accuracy metrics; see each function for its exact definition.

:func:`evaluate` computes them all for one model. Users with an empty (or no)
test set are skipped: no relevant item means every accuracy metric is undefined
(ranx scores them 0, which would only dilute the mean). Evaluated users that
have no recommendation list get an empty list, i.e. 0 on every accuracy metric.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

Item = Hashable
User = Hashable

DEFAULT_KS: dict[str, tuple[int, ...]] = {
    "ndcg": (10,),
    "recall": (10, 50),
    "map": (10,),
}


# ---------------------------------------------------------------- accuracy core


def hit_matrix(
    ranked: Sequence[Sequence[Item]], relevant: Sequence[set[Item]], k: int
) -> np.ndarray:
    """0/1 matrix (users x k): entry [u, i] = 1 when list u's item at rank i + 1 is relevant.

    Every accuracy metric is a function of this matrix and |relevant|, which
    keeps the metric formulas vectorised and identical across callers.
    """
    hits = np.zeros((len(ranked), k), dtype=np.float64)
    for row, (items, rel) in enumerate(zip(ranked, relevant, strict=True)):
        top = list(items)[:k]
        if top and rel:
            hits[row, : len(top)] = [item in rel for item in top]
    return hits


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_from_hits(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Per-user NDCG@k, k = hits.shape[1]; IDCG over min(|relevant|, k) ranks."""
    k = hits.shape[1]
    disc = _discounts(k)
    dcg = hits @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_relevant, k).astype(np.int64)]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def recall_from_hits(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Per-user Recall@k = hits in top k / |relevant| (ranx's definition)."""
    found = hits.sum(axis=1)
    return np.divide(found, n_relevant, out=np.zeros_like(found), where=n_relevant > 0)


def ap_from_hits(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Per-user AP@k = sum of Precision@r at hit ranks r <= k / |relevant| (ranx's definition)."""
    k = hits.shape[1]
    precision_at_r = np.cumsum(hits, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    summed = (precision_at_r * hits).sum(axis=1)
    return np.divide(summed, n_relevant, out=np.zeros_like(summed), where=n_relevant > 0)


def _single(
    ranked: Sequence[Item], relevant: Iterable[Item], k: int
) -> tuple[np.ndarray, np.ndarray]:
    rel = set(relevant)
    return hit_matrix([ranked], [rel], k), np.array([len(rel)], dtype=np.float64)


def ndcg_at_k(ranked: Sequence[Item], relevant: Iterable[Item], k: int = 10) -> float:
    """NDCG@k of one ranked list against one set of relevant items."""
    return float(ndcg_from_hits(*_single(ranked, relevant, k))[0])


def recall_at_k(ranked: Sequence[Item], relevant: Iterable[Item], k: int = 10) -> float:
    """Recall@k of one ranked list: hits in the top k / |relevant|."""
    return float(recall_from_hits(*_single(ranked, relevant, k))[0])


def map_at_k(ranked: Sequence[Item], relevant: Iterable[Item], k: int = 10) -> float:
    """AP@k of one ranked list (MAP@k is its mean over users)."""
    return float(ap_from_hits(*_single(ranked, relevant, k))[0])


# -------------------------------------------------------------- beyond accuracy


def exposure_counts(recommendations: Iterable[Sequence[Item]], k: int) -> dict[Item, int]:
    """How many top-k lists each item appears in."""
    counts: dict[Item, int] = {}
    for items in recommendations:
        for item in list(items)[:k]:
            counts[item] = counts.get(item, 0) + 1
    return counts


def catalog_coverage(
    recommendations: Iterable[Sequence[Item]], catalog: Iterable[Item], k: int = 10
) -> float:
    """Share of the catalogue that appears in at least one top-k list.

    Only recommended items that belong to ``catalog`` count, so the value is in [0, 1].
    """
    cat = set(catalog)
    if not cat:
        return float("nan")
    shown = set(exposure_counts(recommendations, k)) & cat
    return len(shown) / len(cat)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 = all equal, (n - 1) / n = one holds everything."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total == 0:
        return float("nan")
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


def gini_of_exposure(
    recommendations: Iterable[Sequence[Item]], catalog: Iterable[Item], k: int = 10
) -> float:
    """Gini of how often each catalogue item is shown in the top-k lists.

    Items never shown count with exposure 0: a model that only ever shows a few
    artists is maximally unequal over the catalogue it could have shown.
    """
    cat = list(dict.fromkeys(catalog))
    counts = exposure_counts(recommendations, k)
    return gini(np.array([counts.get(item, 0) for item in cat], dtype=np.float64))


def intra_list_diversity(
    recommendations: Iterable[Sequence[Item]],
    item_index: Mapping[Item, int],
    item_vectors: np.ndarray | sp.spmatrix | sp.sparray,
    k: int = 10,
) -> float:
    """Mean over lists of the mean pairwise distance 1 - cosine between the list's items.

    ``item_vectors`` row ``item_index[item]`` is the item's feature vector (for
    Last.fm: its tag counts). Items without a vector (not in ``item_index``) or
    with an all-zero vector are left out of their list; lists with fewer than
    two remaining items are skipped. NaN when no list qualifies.
    """
    vectors = sp.csr_array(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    per_list: list[float] = []
    for items in recommendations:
        rows = [item_index[i] for i in list(items)[:k] if i in item_index]
        rows = [r for r in rows if norms[r] > 0]
        n = len(rows)
        if n < 2:
            continue
        sub = vectors[rows]
        sim = (sub @ sub.T).toarray() / np.outer(norms[rows], norms[rows])
        off_diagonal = sim.sum() - np.trace(sim)
        per_list.append(1.0 - off_diagonal / (n * (n - 1)))
    return float(np.mean(per_list)) if per_list else float("nan")


def novelty(
    recommendations: Iterable[Sequence[Item]],
    item_user_counts: Mapping[Item, int],
    n_users: int,
    k: int = 10,
) -> float:
    """Mean self-information -log2 p(item) of the top-k items, averaged per list then over lists.

    p(item) = users who had the item in *train* / all train users. Items unseen
    in train get p = 1 / n_users (the rarest observable), so novelty stays finite.
    """
    per_list: list[float] = []
    for items in recommendations:
        top = list(items)[:k]
        if not top:
            continue
        counts = np.array([max(item_user_counts.get(i, 0), 1) for i in top], dtype=np.float64)
        per_list.append(float(np.mean(-np.log2(np.minimum(counts / n_users, 1.0)))))
    return float(np.mean(per_list)) if per_list else float("nan")


def local_share(
    recommendations: Mapping[User, Sequence[Item]],
    user_country: Mapping[User, str],
    item_country: Mapping[Item, str],
    k: int = 10,
) -> float:
    """Mean over users of the share of their top-k items whose artist country is the user's.

    Only users with a known country and a non-empty list count. An item with an
    unknown country counts as not local (it stays in the denominator), so the
    metric never rewards recommending unlabelled artists. NaN when no user qualifies.
    """
    shares: list[float] = []
    for user, items in recommendations.items():
        country = user_country.get(user)
        top = list(items)[:k]
        if country is None or not top:
            continue
        shares.append(sum(item_country.get(i) == country for i in top) / len(top))
    return float(np.mean(shares)) if shares else float("nan")


# ------------------------------------------------------------------- evaluate


def evaluate(
    recommendations: Mapping[User, Sequence[Item]],
    test: Mapping[User, set[Item]],
    *,
    ks: Mapping[str, Iterable[int]] = DEFAULT_KS,
    beyond_k: int = 10,
    catalog: Iterable[Item] | None = None,
    item_index: Mapping[Item, int] | None = None,
    item_vectors: np.ndarray | sp.spmatrix | sp.sparray | None = None,
    item_user_counts: Mapping[Item, int] | None = None,
    n_train_users: int | None = None,
    user_country: Mapping[User, str] | None = None,
    item_country: Mapping[Item, str] | None = None,
) -> dict[str, Any]:
    """All metrics of one model as a flat dict ``{"ndcg@10": ..., "users": ...}``.

    Accuracy metrics are means over the users with a non-empty test set (others
    are skipped, see the module docstring). Each beyond-accuracy metric is
    computed on those users' top-``beyond_k`` lists when its inputs are given,
    and left out of the dict otherwise: coverage and Gini need ``catalog``,
    intra-list diversity ``item_index`` + ``item_vectors``, novelty
    ``item_user_counts`` + ``n_train_users``, local share both country maps.
    """
    users = [u for u, rel in test.items() if rel]
    ranked = [list(recommendations.get(u, ())) for u in users]
    relevant = [set(test[u]) for u in users]
    n_rel = np.array([len(r) for r in relevant], dtype=np.float64)
    out: dict[str, Any] = {"users": len(users)}
    per_metric = {"ndcg": ndcg_from_hits, "recall": recall_from_hits, "map": ap_from_hits}
    max_k = max((k for kk in ks.values() for k in kk), default=0)
    hits = hit_matrix(ranked, relevant, max_k) if users else np.zeros((0, max_k))
    for name, kk in ks.items():
        for k in kk:
            scores = per_metric[name](hits[:, :k], n_rel)
            out[f"{name}@{k}"] = float(scores.mean()) if users else float("nan")
    evaluated = {u: r for u, r in zip(users, ranked, strict=True)}
    lists = list(evaluated.values())
    if catalog is not None:
        cat = list(dict.fromkeys(catalog))
        out[f"coverage@{beyond_k}"] = catalog_coverage(lists, cat, beyond_k)
        out[f"gini@{beyond_k}"] = gini_of_exposure(lists, cat, beyond_k)
    if item_index is not None and item_vectors is not None:
        out[f"ild@{beyond_k}"] = intra_list_diversity(lists, item_index, item_vectors, beyond_k)
    if item_user_counts is not None and n_train_users:
        out[f"novelty@{beyond_k}"] = novelty(lists, item_user_counts, n_train_users, beyond_k)
    if user_country is not None and item_country is not None:
        out[f"local@{beyond_k}"] = local_share(evaluated, user_country, item_country, beyond_k)
    return out


def format_table(rows: Mapping[str, Mapping[str, Any]], digits: int = 4) -> str:
    """Markdown table, one row per model, columns in first-seen order."""
    columns: list[str] = []
    for row in rows.values():
        columns.extend(c for c in row if c not in columns)
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.{digits}f}" if isinstance(v, float) else str(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
