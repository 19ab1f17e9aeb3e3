"""Benchmark: most-popular and EASE on the seeded Last.fm 20% per-user holdout (issue 7).

Loads Last.fm HetRec 2011 from ``../shared`` (or ``--data``), splits each
user's artists 80/20 with ``--seed`` (saved with ``--save-split DIR``), fits
each model on the train matrix and prints one metric row per model (accuracy
at 10/50, coverage, Gini of exposure, intra-list diversity over tag vectors,
novelty) with its fit and recommend time.

EASE inverts an items x items Gram matrix, so models are fitted on the artists
with at least ``--min-listeners`` train listeners (the test set still holds every
artist: the restricted catalogue costs recall, equally for all models). Last.fm
has no countries, so the local-share metric is not reported here.

    .venv/bin/python benchmarks/lastfm_baselines.py
    .venv/bin/python benchmarks/lastfm_baselines.py --lambdas 50 200 500 1000 --min-listeners 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from ml.baselines import EASE, Indexer, MostPopular, Recommender, recommend_ids  # noqa: E402
from ml.lastfm import artist_tag_matrix, load_lastfm  # noqa: E402
from ml.metrics import evaluate, format_table  # noqa: E402
from ml.splits import per_user_holdout, save_split  # noqa: E402


def restrict(train: pl.DataFrame, min_listeners: int) -> pl.DataFrame:
    """Train rows of artists with at least ``min_listeners`` distinct train users."""
    keep = (
        train.group_by("item").agg(pl.len().alias("n")).filter(pl.col("n") >= min_listeners)["item"]
    )
    return train.filter(pl.col("item").is_in(keep.implode()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="Last.fm folder (default: ../shared/...)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--min-listeners", type=int, default=2)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[50.0, 200.0, 500.0, 1000.0])
    parser.add_argument("--save-split", type=Path, default=None)
    args = parser.parse_args(argv)

    data = load_lastfm(args.data)
    split = per_user_holdout(data.interactions, args.fraction, args.seed)
    if args.save_split:
        save_split(split, args.save_split)
    test = split.test_sets()
    all_train_items = split.train["item"].unique().sort().to_list()
    item_user_counts = dict(split.train.group_by("item").agg(pl.len()).iter_rows())
    n_train_users = split.train["user"].n_unique()
    tag_vectors, _ = artist_tag_matrix(data, all_train_items)
    item_index = {item: i for i, item in enumerate(all_train_items)}

    train = restrict(split.train, args.min_listeners)
    indexer = Indexer(
        split.train["user"].unique().sort().to_list(), train["item"].unique().sort().to_list()
    )
    matrix = indexer.matrix(train)
    print(
        f"train {split.train.height} rows, test {split.test.height} rows over {len(test)} users; "
        f"models see {matrix.shape[1]} of {len(all_train_items)} artists (>= {args.min_listeners} listeners)",
        file=sys.stderr,
    )
    models: dict[str, Recommender] = {"popular": MostPopular()}
    models.update({f"ease(lambda={lam:g})": EASE(lam) for lam in args.lambdas})
    rows = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(matrix)
        t1 = time.perf_counter()
        recs = recommend_ids(model, indexer, test, n=50)
        t2 = time.perf_counter()
        row = evaluate(
            recs,
            test,
            catalog=all_train_items,
            item_index=item_index,
            item_vectors=tag_vectors,
            item_user_counts=item_user_counts,
            n_train_users=n_train_users,
        )
        row.update({"fit_s": t1 - t0, "recommend_s": t2 - t1})
        rows[name] = row
        print(f"{name}: fit {t1 - t0:.2f}s, recommend {t2 - t1:.2f}s", file=sys.stderr)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
