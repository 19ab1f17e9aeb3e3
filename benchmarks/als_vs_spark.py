"""Benchmark: implicit ALS against Spark MLlib ALS on the same matrix (issue 7).

Builds one user x item matrix (default: the Last.fm HetRec user-artist play
counts via :func:`ml.lastfm.load_lastfm`, or ``--synthetic USERSxITEMS``),
holds out a seeded 20% of each user's items, weights the train matrix once
(``--weighting bm25|log|raw``) and trains both libraries on that identical
matrix with the same rank/factors, iterations, regularization and alpha:

* implicit ``AlternatingLeastSquares`` (CPU, BLAS at 1 thread, implicit's own
  threads = ``--threads``; GPU when present unless ``--cpu``);
* ``pyspark.ml.recommendation.ALS(implicitPrefs=True)`` on ``local[THREADS]``.
  The JVM start is timed and reported separately; the ratings DataFrame is
  cached and counted before the clock starts. Spark's fit also has a fixed
  setup cost (blocking the ratings), so a 1-iteration fit is timed too and the
  marginal cost ``(T(iters) - T(1)) / (iters - 1)`` is printed next to
  ``T(iters) / iters``.

Both models are then ranked by the same code (:class:`ml.als.FactorModel`,
seen items excluded) and scored with NDCG@10 on the holdout, so the speed
comparison is between models of comparable quality. Note the two libraries do
not define the objective identically: Spark uses confidence 1 + alpha * r and
scales regParam by each user's/item's rating count; implicit uses alpha * r
and a plain L2 term.

    .venv/bin/python benchmarks/als_vs_spark.py --factors 64 --iterations 15
    .venv/bin/python benchmarks/als_vs_spark.py --synthetic 5000x2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from ml.als import ALSRecommender, FactorModel, bm25  # noqa: E402
from ml.baselines import Indexer, recommend_ids  # noqa: E402
from ml.metrics import evaluate  # noqa: E402
from ml.splits import per_user_holdout  # noqa: E402


def synthetic(shape: str, seed: int) -> pl.DataFrame:
    """Play counts from a low-rank taste model: ~1% density, power-law counts."""
    users, items = (int(x) for x in shape.lower().split("x"))
    rng = np.random.default_rng(seed)
    per_user = max(5, items // 100)
    u_f, i_f = rng.normal(size=(users, 8)), rng.normal(size=(items, 8))
    popularity = rng.zipf(1.5, items).clip(max=1000).astype(float)
    rows, cols = [], []
    for u in range(users):
        logits = i_f @ u_f[u] + np.log(popularity)
        p = np.exp(logits - logits.max())
        picked = rng.choice(items, per_user, replace=False, p=p / p.sum())
        rows.append(np.full(per_user, u))
        cols.append(picked)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return pl.DataFrame({"user": r, "item": c, "weight": rng.zipf(2.0, r.size).astype(np.int64)})


def weigh(matrix: sp.csr_array, how: str) -> sp.csr_array:
    if how == "bm25":
        return bm25(matrix)
    if how == "log":
        out = matrix.copy()
        out.data = np.log1p(out.data)
        return out
    return matrix


def ndcg(model: FactorModel, indexer: Indexer, test: dict) -> float:
    recs = recommend_ids(model, indexer, test, n=10)
    return evaluate(recs, test, ks={"ndcg": (10,)})["ndcg@10"]


def spark_als(matrix: sp.csr_array, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{args.threads}]")
        .appName("als_vs_spark")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", str(args.threads))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    jvm_s = time.perf_counter() - t0
    coo = sp.coo_array(matrix)
    ratings = spark.createDataFrame(
        pl.DataFrame(
            {
                "user": coo.row.astype(np.int32),
                "item": coo.col.astype(np.int32),
                "rating": coo.data.astype(np.float32),
            }
        ).to_pandas()
    ).repartition(args.threads).cache()
    n = ratings.count()
    assert n == matrix.nnz

    def fit(iters: int):
        als = ALS(
            rank=args.factors,
            maxIter=iters,
            regParam=args.regularization,
            alpha=args.alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            numUserBlocks=args.threads,
            numItemBlocks=args.threads,
            seed=args.seed,
            coldStartStrategy="drop",
        )
        t = time.perf_counter()
        model = als.fit(ratings)
        model.userFactors.count()  # force the factors (fit is eager, this is cheap)
        return model, time.perf_counter() - t

    fit(1)  # warm-up: the JVM's JIT and class loading are not ALS time
    _, one_s = fit(1)
    model, total_s = fit(args.iterations)
    users = np.zeros((matrix.shape[0], args.factors), dtype=np.float32)
    items = np.zeros((matrix.shape[1], args.factors), dtype=np.float32)
    for target, frame in ((users, model.userFactors), (items, model.itemFactors)):
        for row in frame.collect():
            target[row["id"]] = row["features"]
    spark.stop()
    return {"jvm_s": jvm_s, "one_s": one_s, "total_s": total_s, "users": users, "items": items}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="Last.fm folder")
    parser.add_argument("--synthetic", default=None, metavar="USERSxITEMS")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--weighting", choices=["bm25", "log", "raw"], default="bm25")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", action="store_true", help="never use implicit's GPU build")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    if args.synthetic:
        frame, source = synthetic(args.synthetic, args.seed), f"synthetic {args.synthetic}"
    else:
        from ml.lastfm import load_lastfm

        frame, source = load_lastfm(args.data).interactions, "Last.fm user-artist"
    split = per_user_holdout(frame, 0.2, args.seed)
    test = split.test_sets()
    indexer = Indexer.from_frame(split.train)
    matrix = weigh(indexer.matrix(split.train), args.weighting)
    print(
        f"{source}: {matrix.shape[0]} users x {matrix.shape[1]} items, {matrix.nnz} train "
        f"entries ({args.weighting}), {split.test.height} test; factors={args.factors} "
        f"iterations={args.iterations} reg={args.regularization} alpha={args.alpha} "
        f"threads={args.threads}",
        flush=True,
    )

    gpu = None if not args.cpu else False
    ours = ALSRecommender(
        args.factors, args.regularization, args.alpha, args.iterations, args.seed,
        use_gpu=gpu, num_threads=args.threads,
    )
    ours.fit(matrix)  # warm-up (JIT-free, but pages in BLAS and the extension)
    ours.fit(matrix)
    imp_s = ours.fit_seconds
    imp_ndcg = ndcg(ours, indexer, test)
    device = "gpu" if ours.use_gpu else "cpu"
    print(f"implicit ({device}): fit {imp_s:.3f}s = {imp_s / args.iterations:.4f} s/iter, "
          f"NDCG@10 {imp_ndcg:.4f}", flush=True)

    spark = spark_als(matrix, args)
    spark_ndcg = ndcg(FactorModel.from_factors(spark["users"], spark["items"], matrix), indexer, test)
    per_iter = spark["total_s"] / args.iterations
    marginal = (spark["total_s"] - spark["one_s"]) / max(args.iterations - 1, 1)
    print(f"spark (local[{args.threads}]): JVM start {spark['jvm_s']:.1f}s (excluded); "
          f"fit {spark['total_s']:.2f}s = {per_iter:.4f} s/iter "
          f"(1-iter fit {spark['one_s']:.2f}s, marginal {marginal:.4f} s/iter), "
          f"NDCG@10 {spark_ndcg:.4f}")
    print(f"ratio spark/implicit per iteration: {per_iter / (imp_s / args.iterations):.1f}x "
          f"(marginal: {marginal / (imp_s / args.iterations):.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
