"""Baseline recommenders (issue 7): most popular and EASE, behind the interface every model shares.

A model works on a user x item CSR matrix with contiguous row/column indices
(:class:`Indexer` maps raw ids to them and back):

* ``fit(user_items)`` learns from the train matrix and keeps it, so that
* ``recommend(user_rows, n, exclude_seen=True)`` returns an int array
  (len(user_rows) x n) of item columns, best first, padded with -1 when fewer
  than n items are left. Ties are broken by the lower item column, so results
  are deterministic.

ALS and the hybrid plug in by implementing the same two methods
(:class:`Recommender`). :func:`recommend_ids` turns the output into the
``{user: [item, ...]}`` dict :func:`ml.metrics.evaluate` takes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl
import scipy.linalg
import scipy.sparse as sp


class Recommender(Protocol):
    """What evaluation needs from a model."""

    def fit(self, user_items: sp.csr_array) -> Recommender: ...

    def recommend(self, user_rows: np.ndarray, n: int, exclude_seen: bool = True) -> np.ndarray: ...


@dataclass(frozen=True)
class Indexer:
    """Raw user/item ids <-> matrix rows/columns, in the order given (sorted by :meth:`from_frame`)."""

    users: list[Hashable]
    items: list[Hashable]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Indexer:
        """Index the distinct users and items of a ``user``/``item`` frame, sorted."""
        return cls(frame["user"].unique().sort().to_list(), frame["item"].unique().sort().to_list())

    @property
    def user_pos(self) -> dict[Hashable, int]:
        return {u: i for i, u in enumerate(self.users)}

    @property
    def item_pos(self) -> dict[Hashable, int]:
        return {t: j for j, t in enumerate(self.items)}

    def matrix(self, frame: pl.DataFrame, binary: bool = False) -> sp.csr_array:
        """CSR of ``weight`` (or 1 with ``binary``); rows of unknown users/items are dropped."""
        upos, ipos = self.user_pos, self.item_pos
        known = frame.filter(pl.col("user").is_in(self.users) & pl.col("item").is_in(self.items))
        rows = np.fromiter((upos[u] for u in known["user"].to_list()), np.int64, known.height)
        cols = np.fromiter((ipos[i] for i in known["item"].to_list()), np.int64, known.height)
        data = np.ones(known.height) if binary else known["weight"].cast(pl.Float64).to_numpy()
        out = sp.csr_array((data, (rows, cols)), shape=(len(self.users), len(self.items)))
        out.sum_duplicates()
        return out


def top_n(scores: np.ndarray, n: int, seen: sp.csr_array | None = None) -> np.ndarray:
    """Top-n columns per row of a dense score matrix, best first, seen entries excluded.

    Excluded (and -inf) entries are never returned: their slots are -1. Ties go
    to the lower column (stable sort on the negated score).
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if seen is not None:
        coo = sp.coo_array(seen)
        scores[coo.row, coo.col] = -np.inf
    n_eff = min(n, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n_eff]
    picked = np.take_along_axis(scores, order, axis=1)
    order[~np.isfinite(picked)] = -1
    if n_eff < n:
        order = np.hstack([order, np.full((scores.shape[0], n - n_eff), -1, dtype=order.dtype)])
    return order


class MostPopular:
    """Recommend the items with the most distinct train users (binarised, so one heavy listener
    cannot make an artist "popular"), the same ranking for everyone minus what they have seen."""

    def __init__(self) -> None:
        self.user_items: sp.csr_array | None = None
        self.popularity: np.ndarray | None = None

    def fit(self, user_items: sp.csr_array) -> MostPopular:
        self.user_items = sp.csr_array(user_items)
        self.popularity = np.asarray((self.user_items > 0).sum(axis=0)).ravel().astype(np.float64)
        return self

    def recommend(self, user_rows: np.ndarray, n: int, exclude_seen: bool = True) -> np.ndarray:
        assert self.user_items is not None and self.popularity is not None, "fit first"
        rows = np.asarray(user_rows, dtype=np.int64)
        scores = np.broadcast_to(self.popularity, (rows.size, self.popularity.size))
        return top_n(scores, n, self.user_items[rows] if exclude_seen else None)


class EASE:
    """EASE (Steck 2019), the closed-form item-item model.

    With X the (binarised by default) train matrix, P = (XᵀX + λI)⁻¹ and
    B = I - P·diag(1/diag(P)), i.e. B_ij = -P_ij / P_jj with a zero diagonal.
    Scores are X_u B. The inverse is dense in the number of items (n² floats),
    so fit it on a restricted catalogue for large n (see the benchmark).
    """

    def __init__(self, lam: float = 500.0, binary: bool = True, dtype: type = np.float64) -> None:
        self.lam = lam
        self.binary = binary
        self.dtype = dtype
        self.user_items: sp.csr_array | None = None
        self.B: np.ndarray | None = None

    def _input(self, user_items: sp.csr_array) -> sp.csr_array:
        x = sp.csr_array(user_items, dtype=self.dtype)
        if self.binary:
            x = sp.csr_array((x > 0).astype(self.dtype))
        return x

    def fit(self, user_items: sp.csr_array) -> EASE:
        self.user_items = sp.csr_array(user_items)
        x = self._input(user_items)
        gram = (x.T @ x).toarray().astype(self.dtype)
        gram[np.diag_indices_from(gram)] += self.lam
        # Gram + λI is symmetric positive definite (λ > 0): Cholesky is faster and stabler than inv.
        p = scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(gram, overwrite_a=True), np.eye(gram.shape[0], dtype=self.dtype)
        )
        b = -p / np.diag(p)[np.newaxis, :]
        np.fill_diagonal(b, 0.0)
        self.B = b
        return self

    def scores(self, user_rows: np.ndarray) -> np.ndarray:
        assert self.user_items is not None and self.B is not None, "fit first"
        x = self._input(self.user_items[np.asarray(user_rows, dtype=np.int64)])
        return np.asarray(x @ self.B)

    def recommend(self, user_rows: np.ndarray, n: int, exclude_seen: bool = True) -> np.ndarray:
        rows = np.asarray(user_rows, dtype=np.int64)
        assert self.user_items is not None
        return top_n(self.scores(rows), n, self.user_items[rows] if exclude_seen else None)


def recommend_ids(
    model: Recommender,
    indexer: Indexer,
    users: Iterable[Hashable],
    n: int,
    exclude_seen: bool = True,
    batch: int = 1024,
) -> dict[Hashable, list[Hashable]]:
    """``{user: [item ids]}`` for the given raw users; users unknown to the indexer get []."""
    upos = indexer.user_pos
    wanted: Sequence[Hashable] = list(users)
    known = [u for u in wanted if u in upos]
    out: dict[Hashable, list[Hashable]] = {u: [] for u in wanted}
    items = indexer.items
    for start in range(0, len(known), batch):
        chunk = known[start : start + batch]
        cols = model.recommend(np.array([upos[u] for u in chunk], dtype=np.int64), n, exclude_seen)
        for user, row in zip(chunk, cols, strict=True):
            out[user] = [items[c] for c in row if c >= 0]
    return out
