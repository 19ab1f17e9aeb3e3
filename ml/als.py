"""Implicit-feedback ALS candidates (issue 7, step 2) on top of ``implicit``.

:class:`ALSRecommender` implements :class:`ml.baselines.Recommender`:
``fit(user_items)`` takes the user x item confidence CSR (e.g. from
:func:`ml.interactions.to_csr`), ``recommend(rows, n, exclude_seen)`` returns
item columns best first, -1 padded, ties to the lower column (scores are
computed here as ``U[rows] @ V.T`` and ranked with :func:`ml.baselines.top_n`,
so every model ranks the same way).

* ``implicit`` scales the matrix by ``alpha`` (confidence = alpha * weight).
  With ``bm25=True`` the matrix is first BM25 weighted the way implicit's own
  Last.fm example does it (over the item x user matrix, then transposed back).
* OpenBLAS/MKL threads are limited to 1 around construction and fit with
  ``threadpoolctl`` (implicit parallelises over users itself and warns
  otherwise); nothing is changed process-wide.
* The GPU build is used when ``implicit.gpu.HAS_CUDA`` (``use_gpu=None``,
  default); factors are copied back to numpy after fit. CPU fits with a fixed
  ``random_state`` are deterministic; GPU fits are not guaranteed to be.

:func:`tune_als` grid-searches parameters on a validation dict with NDCG@10
from :mod:`ml.metrics`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import threadpoolctl

from ml.baselines import top_n
from ml.metrics import evaluate


def _blas_one_thread() -> threadpoolctl.threadpool_limits:
    return threadpoolctl.threadpool_limits(1, "blas")


with _blas_one_thread():
    import implicit.als
    import implicit.gpu
    from implicit.nearest_neighbours import bm25_weight


def bm25(user_items: sp.csr_array, k1: float = 100.0, b: float = 0.8) -> sp.csr_array:
    """BM25 weighting of a user x item matrix, items as documents (implicit's convention)."""
    item_users = sp.csr_matrix(sp.csr_array(user_items).T)
    weighted = bm25_weight(item_users, K1=k1, B=b)
    return sp.csr_array(weighted.T.tocsr())


class FactorModel:
    """A recommender from user and item factor matrices: score = U[u] . V[i].

    Shared by :class:`ALSRecommender` and by factors learned elsewhere (the
    Spark benchmark), so both are ranked and evaluated by the same code.
    """

    def __init__(self) -> None:
        self.user_items: sp.csr_array | None = None
        self._user_factors: np.ndarray | None = None
        self._item_factors: np.ndarray | None = None

    @staticmethod
    def from_factors(
        user_factors: np.ndarray, item_factors: np.ndarray, user_items: sp.csr_array
    ) -> FactorModel:
        model = FactorModel()
        model._user_factors = np.asarray(user_factors)
        model._item_factors = np.asarray(item_factors)
        model.user_items = sp.csr_array(user_items)
        return model

    @property
    def user_factors(self) -> np.ndarray:
        assert self._user_factors is not None, "fit first"
        return self._user_factors

    @property
    def item_factors(self) -> np.ndarray:
        assert self._item_factors is not None, "fit first"
        return self._item_factors

    def scores(self, user_rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(user_rows, dtype=np.int64)
        u = self.user_factors[rows].astype(np.float64)
        return u @ self.item_factors.astype(np.float64).T

    def recommend(self, user_rows: np.ndarray, n: int, exclude_seen: bool = True) -> np.ndarray:
        assert self.user_items is not None, "fit first"
        rows = np.asarray(user_rows, dtype=np.int64)
        return top_n(self.scores(rows), n, self.user_items[rows] if exclude_seen else None)

    def similar_items(self, item_cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n other items by cosine of item factors: (columns, cosines), -1 / nan padded."""
        cols = np.asarray(item_cols, dtype=np.int64)
        v = self.item_factors.astype(np.float64)
        norms = np.linalg.norm(v, axis=1)
        unit = np.divide(v, norms[:, None], out=np.zeros_like(v), where=norms[:, None] > 0)
        sims = unit[cols] @ unit.T
        sims[np.arange(cols.size), cols] = -np.inf  # never the item itself
        picked = top_n(sims, n)
        values = np.take_along_axis(sims, np.where(picked >= 0, picked, 0), axis=1)
        return picked, np.where(picked >= 0, values, np.nan)


class ALSRecommender(FactorModel):
    """Implicit ALS (Hu, Koren & Volinsky 2008) via ``implicit.als.AlternatingLeastSquares``."""

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int | None = 0,
        *,
        bm25: bool = False,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        use_gpu: bool | None = None,
        num_threads: int = 0,
    ) -> None:
        super().__init__()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.bm25 = bm25
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.use_gpu = implicit.gpu.HAS_CUDA if use_gpu is None else use_gpu
        self.num_threads = num_threads
        self.model: Any = None
        self.fit_seconds: float = float("nan")

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "bm25": self.bm25,
        }

    def fit(self, user_items: sp.csr_array) -> ALSRecommender:
        self.user_items = sp.csr_array(user_items)
        x = bm25(self.user_items, self.bm25_k1, self.bm25_b) if self.bm25 else self.user_items
        x = sp.csr_matrix(x, dtype=np.float32)
        with _blas_one_thread():
            model = implicit.als.AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                use_gpu=self.use_gpu,
                **({} if self.use_gpu else {"num_threads": self.num_threads}),
            )
            t0 = time.perf_counter()
            model.fit(x, show_progress=False)
            self.fit_seconds = time.perf_counter() - t0
        self.model = model
        cpu = model.to_cpu() if self.use_gpu else model
        self._user_factors = np.asarray(cpu.user_factors)
        self._item_factors = np.asarray(cpu.item_factors)
        return self


def _grid(grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(grid, Mapping):
        keys = list(grid)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
    return [dict(g) for g in grid]


def tune_als(
    train_csr: sp.csr_array,
    valid: Mapping[int, set[int]],
    grid: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]],
    *,
    base: Mapping[str, Any] | None = None,
    k: int = 10,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit one :class:`ALSRecommender` per grid point; pick the best NDCG@k on ``valid``.

    ``valid`` maps user rows to the set of held-out item columns (rows without
    items are skipped). ``grid`` is ``{param: [values]}`` (cartesian product,
    in the given order) or a list of parameter dicts; ``base`` holds the fixed
    parameters. Returns the best parameters (``base`` merged in; the first grid
    point wins ties) and one table row per grid point: its parameters,
    ``ndcg@k``, ``recall@k`` and ``fit_s``.
    """
    points = _grid(grid)
    if not points:
        raise ValueError("empty grid")
    users = np.array(sorted(u for u, items in valid.items() if items), dtype=np.int64)
    if users.size == 0:
        raise ValueError("no validation user has held-out items")
    test = {int(u): set(valid[u]) for u in users}
    table: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    for point in points:
        params = {**(base or {}), **point}
        model = ALSRecommender(**params).fit(train_csr)
        cols = model.recommend(users, k)
        recs = {int(u): [int(c) for c in row if c >= 0] for u, row in zip(users, cols, strict=True)}
        metrics = evaluate(recs, test, ks={"ndcg": (k,), "recall": (k,)})
        row = {
            **point,
            f"ndcg@{k}": metrics[f"ndcg@{k}"],
            f"recall@{k}": metrics[f"recall@{k}"],
            "fit_s": model.fit_seconds,
        }
        table.append(row)
        if best is None or row[f"ndcg@{k}"] > best[0]:
            best = (row[f"ndcg@{k}"], params)
    assert best is not None
    return dict(best[1]), table
