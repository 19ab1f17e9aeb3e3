"""Listeners of the sample world: who they are, and the hidden taste behind their plays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from audio.taxonomy import GENRE_IDS
from pipelines.event_contract import PLATFORMS
from pipelines.sample_world.geography import MARKETS
from pipelines.sample_world.scales import Scale
from pipelines.sample_world.taste import cluster_genre_matrix, country_cluster_matrix

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
PLANS = ("free", "premium", "family", "student")
# paid users split among the paid plans
PAID_MIX = np.array([0.7, 0.18, 0.12])
# Android dominates in most African markets
PLATFORM_MIX = {"diaspora": np.array([0.45, 0.45, 0.10]), "other": np.array([0.82, 0.10, 0.08])}


def generate_users(scale: Scale, seed: int) -> pl.DataFrame:
    """Users with public attributes plus hidden ones (prefixed `_`) that drive behaviour.

    Hidden columns: `_cluster` (taste cluster index), `_activity` (relative plays
    per active day), `_country_idx`. They never leave the generator except in
    the ground-truth files.
    """
    rng = np.random.default_rng([seed, 2])
    n = scale.users
    weights = np.array([m.user_weight for m in MARKETS])
    country_idx = rng.choice(len(MARKETS), size=n, p=weights / weights.sum())
    cc = country_cluster_matrix()
    cum = np.cumsum(cc, axis=1)
    cluster = (rng.random(n)[:, None] > cum[country_idx]).sum(axis=1)

    premium_share = np.array([m.premium_share for m in MARKETS])[country_idx]
    paid = rng.random(n) < premium_share
    paid_plan = rng.choice(3, size=n, p=PAID_MIX) + 1
    plan_idx = np.where(paid, paid_plan, 0)

    regions = np.array([m.region for m in MARKETS])[country_idx]
    diaspora = regions == "diaspora"
    u = rng.random(n)
    platform_idx = np.where(
        diaspora,
        (u[:, None] > np.cumsum(PLATFORM_MIX["diaspora"])).sum(axis=1),
        (u[:, None] > np.cumsum(PLATFORM_MIX["other"])).sum(axis=1),
    )

    # most users signed up before the window; ~6% join during it (cold-start users)
    joins_late = rng.random(n) < 0.06
    before = rng.integers(1, 3 * 365, size=n)
    during = rng.integers(0, scale.days, size=n)
    start_ord = scale.start.toordinal()
    signup_ord = np.where(joins_late, start_ord + during, start_ord - before)

    activity = rng.lognormal(mean=0.0, sigma=0.9, size=n)
    onboarding = _onboarding(rng, cluster)

    plans = np.array(PLANS)[plan_idx]
    return pl.DataFrame({
        "user_id": "u" + pl.Series(np.arange(n)).cast(pl.Utf8).str.zfill(7),
        "country": np.array([m.code for m in MARKETS])[country_idx],
        "plan": plans,
        "signup_date": pl.Series((signup_ord - EPOCH_ORDINAL).astype(np.int32)).cast(pl.Date),
        "platform": np.array(PLATFORMS)[platform_idx],
        "onboarding_genres": onboarding,
        "_cluster": cluster.astype(np.int16),
        "_activity": activity.astype(np.float32),
        "_country_idx": country_idx.astype(np.int16),
    })


def _onboarding(rng: np.random.Generator, cluster: np.ndarray) -> pl.Series:
    """1–3 genres picked from the user's cluster; 15% skipped onboarding (empty list)."""
    cg = cluster_genre_matrix()
    genres = np.array(GENRE_IDS)
    n = len(cluster)
    skipped = rng.random(n) < 0.15
    counts = rng.integers(1, 4, size=n)
    # Gumbel top-k gives weighted sampling without replacement, vectorised
    gumbel = -np.log(-np.log(rng.random((n, len(genres)))))
    with np.errstate(divide="ignore"):
        keys = np.log(cg[cluster]) + gumbel
    top = np.argsort(-keys, axis=1)[:, :3]
    columns = {}
    for k in range(3):
        keep = (~skipped) & (k < counts) & (cg[cluster, top[:, k]] > 0)
        columns[f"g{k}"] = pl.Series(genres[top[:, k]]).set(pl.Series(~keep), None)
    frame = pl.DataFrame(columns)
    return frame.select(pl.concat_list("g0", "g1", "g2").list.drop_nulls().alias("onboarding_genres"))[
        "onboarding_genres"
    ]


PUBLIC_COLUMNS = ("user_id", "country", "plan", "signup_date", "platform", "onboarding_genres")
