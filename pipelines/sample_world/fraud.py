"""Streaming-fraud bots of the sample world: who they are, what they boost, and how they play.

Fraud takes a few percent of all plays (``FRAUD_SHARE``) and comes in five
kinds, each with the signature a fraud filter is expected to find:

* ``looper`` - one account looping one track around the clock: a play every
  31-40 s, each just over the 30 s that makes a play count as a stream;
* ``implausible`` - more than 16 hours of (varied) listening in a day;
* ``machine_regular`` - no skips at all, plays started at a fixed interval;
* ``farm`` - a group of fresh accounts (same country and platform, signed up
  within two days) streaming the same few tracks of one or two artists;
* ``geo_spike`` - one track suddenly streamed heavily from a country where its
  artist has no audience, over one or two days.

The plan is the ground truth (accounts, their kind and targets, the boosted
tracks); :func:`simulate_bot_day` turns it into one day's plays. Each kind's
intensity is fixed by its signature, so the number of accounts is what scales
with the world. Only where a world is too small for the minimum of two accounts
per kind (the 100k-event CI world) do loopers and machine-regular bots run for
fewer hours per day than on bigger worlds, to keep fraud near its share.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from audio.taxonomy import GENRE_IDS
from pipelines.sample_world.geography import MARKET_CODES, MARKETS
from pipelines.sample_world.scales import Scale
from pipelines.sample_world.taste import (
    cluster_genre_matrix,
    country_cluster_matrix,
    cultural_affinity,
)

FRAUD_KINDS: tuple[str, ...] = ("looper", "implausible", "machine_regular", "farm", "geo_spike")
FRAUD_SHARE = 0.045
"""Fraud plays as a share of the world's target event count."""

IMPLAUSIBLE_SHARE = 0.30
"""Share of the fraud budget for implausible listeners; the rest is split by REST_WEIGHTS."""
REST_WEIGHTS = {"looper": 0.30, "machine_regular": 0.20, "farm": 0.35, "geo_spike": 0.15}
MIN_ACCOUNTS = 2

LOOPER_INTERVAL_MS = (31_000, 40_000)
LOOPER_MS_PLAYED = (30_050, 30_950)  # always below the shortest interval: no overlap
IMPLAUSIBLE_HOURS = (17.0, 20.0)
IMPLAUSIBLE_GAP_MS = (400, 3_000)
MACHINE_HOURS = (7.0, 11.0)
MACHINE_JITTER_MS = 20
FARM_SIZE = (10, 40)
FARM_PLAYS_PER_DAY = 60.0
FARM_MS_PLAYED = (31_000, 62_000)
SPIKE_PLAYS_PER_DAY = 80.0
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

PLAY_FIELDS = (
    "user",
    "track",
    "start_ms",
    "ms_played",
    "country",
    "platform",
    "source",
    "saved",
    "skipped",
)
"""Keys of the column dict :func:`simulate_bot_day` returns (same as the honest plays)."""

_SOURCE = {"search": 0, "playlist": 1, "algorithmic": 2, "radio": 3}
_PLATFORM = {"android": 0, "ios": 1, "web": 2}


@dataclass(frozen=True)
class FraudPlan:
    """Bot accounts, the ground truth about them, and the parameters that drive their plays.

    ``bot_users`` has the users table's columns (hidden ones included) so the
    world can append it; ``accounts_truth`` and ``tracks_truth`` go to the
    ground-truth files; ``behaviour`` is what :func:`simulate_bot_day` needs.
    """

    bot_users: pl.DataFrame
    accounts_truth: pl.DataFrame
    tracks_truth: pl.DataFrame
    behaviour: pl.DataFrame
    expected_events: int


@dataclass(frozen=True)
class BotArrays:
    """The plan as flat numpy arrays indexed by bot (picklable, cheap to ship to workers)."""

    user: np.ndarray  # int32 index into the events' user dictionary
    kind: np.ndarray  # int8 index into FRAUD_KINDS
    country: np.ndarray  # int16 index into MARKETS
    platform: np.ndarray  # int8
    source: np.ndarray  # int8
    first_day: np.ndarray  # int32 day index (0 = scale.start)
    last_day: np.ndarray
    hours: np.ndarray  # float64: planned hours a day (0 for kinds without a daily schedule)
    plays_per_day: np.ndarray  # float64
    interval_ms: np.ndarray  # int32 (machine_regular only)
    start_ms: np.ndarray  # int32 offset into the UTC day
    target_share: np.ndarray  # float64
    targets: tuple[np.ndarray, np.ndarray]  # CSR (offsets, track indices)
    camouflage: tuple[np.ndarray, np.ndarray]


# ----------------------------------------------------------------------------- planning


def plan_fraud(
    scale: Scale, seed: int, users: pl.DataFrame, tracks: pl.DataFrame, artists: pl.DataFrame
) -> FraudPlan:
    """Plan every bot of the world; deterministic in (scale, seed) and the tables given."""
    rng = np.random.default_rng([seed, 4])
    pool = _TrackPool.build(scale, tracks, artists)
    budget = FRAUD_SHARE * scale.events
    implausible_budget = IMPLAUSIBLE_SHARE * budget
    specs = _implausible(rng, scale, pool, implausible_budget)
    rest = max(budget - _planned_events(specs), 0.0)
    specs += _loopers(rng, scale, pool, rest * REST_WEIGHTS["looper"])
    specs += _machine_regular(rng, scale, pool, rest * REST_WEIGHTS["machine_regular"])
    specs += _farms(rng, scale, pool, rest * REST_WEIGHTS["farm"])
    specs += _geo_spikes(rng, scale, pool, rest * REST_WEIGHTS["geo_spike"])
    return _assemble(scale, specs, users, pool)


@dataclass(frozen=True)
class _TrackPool:
    """Tracks bots may stream: pre-window, licensed worldwide, music (so boosting them pays)."""

    ids: np.ndarray  # str track ids of candidates
    artist: np.ndarray  # artist index per candidate
    artist_region: np.ndarray
    popularity: np.ndarray
    duration_ms: np.ndarray
    beneficiaries: np.ndarray  # artist indices that have candidates, least popular first
    popular: np.ndarray  # candidate positions, most popular first
    genre: np.ndarray  # index into GENRE_IDS
    artist_country: np.ndarray  # index into MARKETS
    duration_of: dict[str, float]

    @staticmethod
    def build(scale: Scale, tracks: pl.DataFrame, artists: pl.DataFrame) -> _TrackPool:
        artist_pos = {a: i for i, a in enumerate(artists["artist_id"].to_list())}
        eligible = tracks.filter(
            pl.col("is_music")
            & (pl.col("release_date") < scale.start)
            & pl.col("territories").list.contains("WW")
        )
        if eligible.height < 4:  # a tiny catalog: let bots use any pre-window music track
            eligible = tracks.filter(pl.col("is_music") & (pl.col("release_date") < scale.start))
        artist_idx = np.array(
            [artist_pos[a] for a in eligible["artist_id"].to_list()], dtype=np.int64
        )
        regions = artists["region"].to_numpy()
        artist_pop = artists["popularity"].to_numpy()
        present = np.unique(artist_idx)
        popularity = eligible["popularity"].to_numpy()
        return _TrackPool(
            ids=eligible["track_id"].to_numpy(),
            artist=artist_idx,
            artist_region=regions[artist_idx],
            popularity=popularity,
            duration_ms=eligible["duration_ms"].to_numpy().astype(np.float64),
            beneficiaries=present[np.argsort(artist_pop[present], kind="stable")],
            popular=np.argsort(-popularity, kind="stable"),
            genre=np.array(
                [GENRE_IDS.index(g) for g in eligible["genre"].to_list()], dtype=np.int64
            ),
            artist_country=np.array(
                [MARKET_CODES.index(c) for c in artists["country"].to_numpy()[artist_idx]],
                dtype=np.int64,
            ),
            duration_of=dict(
                zip(eligible["track_id"].to_list(), eligible["duration_ms"].to_list(), strict=True)
            ),
        )

    def heard_in(self, country: int) -> np.ndarray:
        """Expected share of a market's honest listening per candidate track."""
        clusters = country_cluster_matrix()[country]
        weight = (
            cluster_genre_matrix()[:, self.genre]
            * self.popularity
            * cultural_affinity(np.full(len(self.ids), country), self.artist_country)
        )
        totals = weight.sum(axis=1, keepdims=True)
        shares = np.divide(weight, totals, out=np.zeros_like(weight), where=totals > 0)
        return clusters @ shares

    def artist_tracks(self, rng: np.random.Generator, n_artists: int, most: int) -> list[str]:
        """Up to `most` tracks of `n_artists` obscure artists: the ones fraud pays off for."""
        half = self.beneficiaries[
            : max(len(self.beneficiaries) // 2, min(2, len(self.beneficiaries)))
        ]
        chosen = rng.choice(half, size=min(n_artists, len(half)), replace=False)
        positions = np.flatnonzero(np.isin(self.artist, chosen))
        take = min(most, len(positions))
        return sorted(self.ids[rng.choice(positions, size=take, replace=False)].tolist())

    def mean_duration(self, track_ids: list[str]) -> float:
        """Mean duration of some of the pool's tracks (for plays-per-day estimates)."""
        return float(np.mean([self.duration_of[t] for t in track_ids]))

    def camouflage(
        self, rng: np.random.Generator, size: int, among: np.ndarray | None = None
    ) -> list[str]:
        """Popular tracks a bot mixes in so that it does not stream its targets only."""
        candidates = self.popular[: max(200, size)] if among is None else among
        size = min(size, len(candidates))
        return sorted(self.ids[rng.choice(candidates, size=size, replace=False)].tolist())


def _spec(kind: str, **fields: object) -> dict:
    return {"kind": kind, **fields}


def _planned_events(specs: list[dict]) -> float:
    return float(sum(s["plays_per_day"] * (s["last_day"] - s["first_day"] + 1) for s in specs))


def _split(account_days: float, max_days: int) -> tuple[int, int]:
    """Accounts and days per account for some account-days (at least MIN_ACCOUNTS x 1 day)."""
    days_each = int(np.clip(round(account_days / MIN_ACCOUNTS), 1, max_days))
    return max(MIN_ACCOUNTS, round(account_days / days_each)), days_each


def _days(
    rng: np.random.Generator, scale: Scale, length: int, earliest: int = 0
) -> tuple[int, int]:
    length = min(length, scale.days - earliest)
    first = int(rng.integers(earliest, scale.days - length + 1))
    return first, first + length - 1


def _country(rng: np.random.Generator) -> int:
    weights = np.array([m.user_weight for m in MARKETS])
    return int(rng.choice(len(MARKETS), p=weights / weights.sum()))


def _implausible(
    rng: np.random.Generator, scale: Scale, pool: _TrackPool, budget: float
) -> list[dict]:
    """Listeners of 17-20 h a day: the hours are the signature, so never scaled down."""
    gap = sum(IMPLAUSIBLE_GAP_MS) / 2
    mean_hours = sum(IMPLAUSIBLE_HOURS) / 2
    per_day = mean_hours * HOUR_MS / (float(pool.duration_ms.mean()) + gap)
    n, days_each = _split(budget / per_day, max_days=min(8, scale.days))
    specs = []
    for _ in range(n):
        hours = float(rng.uniform(*IMPLAUSIBLE_HOURS))
        first, last = _days(rng, scale, days_each)
        targets = pool.artist_tracks(rng, 1, most=int(rng.integers(2, 5)))
        camouflage = pool.camouflage(rng, int(rng.integers(30, 80)))
        share = 0.3
        mean_ms = share * pool.mean_duration(targets) + (1 - share) * pool.mean_duration(camouflage)
        specs.append(
            _spec(
                "implausible",
                country=_country(rng),
                platform=str(rng.choice(["android", "web"])),
                source="algorithmic",
                first_day=first,
                last_day=last,
                signup=first - int(rng.integers(1, 90)),
                hours=hours,
                plays_per_day=hours * HOUR_MS / (mean_ms + gap),
                interval_ms=0,
                start_ms=int(rng.integers(0, int((24 - 1.1 * hours) * HOUR_MS))),
                target_share=share,
                targets=targets,
                camouflage=camouflage,
            )
        )
    return specs


def _loopers(rng: np.random.Generator, scale: Scale, pool: _TrackPool, budget: float) -> list[dict]:
    """One track on repeat for 20-23 h a day (fewer hours only where the budget is too small)."""
    interval = sum(LOOPER_INTERVAL_MS) / 2
    full_day = 21.5 * HOUR_MS / interval
    if budget / full_day >= MIN_ACCOUNTS:
        n, days_each = _split(budget / full_day, max_days=min(5, scale.days))
        hours = None
    else:
        n, days_each = MIN_ACCOUNTS, 1
        hours = max(budget / MIN_ACCOUNTS * interval / HOUR_MS, 1.0)
    specs = []
    for _ in range(n):
        h = float(rng.uniform(20.0, 23.0)) if hours is None else hours
        first, last = _days(rng, scale, days_each)
        specs.append(
            _spec(
                "looper",
                country=_country(rng),
                platform=str(rng.choice(["android", "web"])),
                source=str(rng.choice(["search", "playlist"])),
                first_day=first,
                last_day=last,
                signup=first - int(rng.integers(1, 60)),
                hours=h,
                plays_per_day=round(h * HOUR_MS / interval),
                interval_ms=0,
                start_ms=int(rng.integers(0, int((23.8 - h) * HOUR_MS))),
                target_share=1.0,
                targets=pool.artist_tracks(rng, 1, most=1),
                camouflage=[],
            )
        )
    return specs


def _machine_regular(
    rng: np.random.Generator, scale: Scale, pool: _TrackPool, budget: float
) -> list[dict]:
    """Fixed-interval players that never skip, for a working day's worth of hours."""
    base_interval = float(np.clip(pool.duration_ms.mean() * 0.7, 50_000, 170_000))
    mean_hours = sum(MACHINE_HOURS) / 2
    per_day = mean_hours * HOUR_MS / base_interval
    if budget / per_day >= MIN_ACCOUNTS:
        n, days_each = _split(budget / per_day, max_days=min(10, scale.days))
        scale_hours = 1.0
    else:
        n, days_each = MIN_ACCOUNTS, 1
        scale_hours = budget / MIN_ACCOUNTS / per_day
    specs = []
    for _ in range(n):
        interval = int(base_interval * rng.uniform(0.85, 1.15))
        hours = float(rng.uniform(*MACHINE_HOURS)) * scale_hours
        first, last = _days(rng, scale, days_each)
        specs.append(
            _spec(
                "machine_regular",
                country=_country(rng),
                platform=str(rng.choice(["android", "web"])),
                source="playlist",
                first_day=first,
                last_day=last,
                signup=first - int(rng.integers(1, 120)),
                hours=hours,
                plays_per_day=max(round(hours * HOUR_MS / interval), 10),
                interval_ms=interval,
                start_ms=int(rng.integers(0, int((24 - hours) * HOUR_MS) - interval)),
                target_share=0.6,
                targets=pool.artist_tracks(rng, 1, most=int(rng.integers(3, 9))),
                camouflage=pool.camouflage(rng, int(rng.integers(10, 40))),
            )
        )
    return specs


def _farms(rng: np.random.Generator, scale: Scale, pool: _TrackPool, budget: float) -> list[dict]:
    """Groups of fresh look-alike accounts pushing the same few tracks of one or two artists."""
    max_days = min(10, max(scale.days - 4, 1))
    mean_size = sum(FARM_SIZE) / 2
    n_farms = max(1, round(budget / (mean_size * max_days * FARM_PLAYS_PER_DAY)))
    specs = []
    for _ in range(n_farms):
        # a small budget buys the smallest farm rather than a big one that barely plays
        affordable = max(FARM_SIZE[0], int(budget / n_farms / FARM_PLAYS_PER_DAY / 2))
        size = min(int(rng.integers(FARM_SIZE[0], FARM_SIZE[1] + 1)), affordable)
        per_account = budget / n_farms / size
        days = int(np.clip(round(per_account / FARM_PLAYS_PER_DAY), 1, max_days))
        first, last = _days(rng, scale, days, earliest=min(3, scale.days - 1))
        signup = first - int(rng.integers(1, 3))
        country, platform = _country(rng), str(rng.choice(["android", "android", "web"]))
        targets = pool.artist_tracks(rng, int(rng.integers(1, 3)), most=int(rng.integers(2, 7)))
        for _ in range(size):
            specs.append(
                _spec(
                    "farm",
                    country=country,
                    platform=platform,
                    source="playlist",
                    first_day=first,
                    last_day=last,
                    signup=signup + int(rng.integers(0, 2)),
                    hours=0.0,
                    plays_per_day=per_account / days,
                    interval_ms=0,
                    start_ms=int(rng.integers(0, 10 * HOUR_MS)),
                    target_share=0.9,
                    targets=targets,
                    camouflage=pool.camouflage(rng, 10),
                )
            )
    return specs


def _geo_spikes(
    rng: np.random.Generator, scale: Scale, pool: _TrackPool, budget: float
) -> list[dict]:
    """A burst of plays of one foreign track from one country over one or two days."""
    n_spikes = int(np.clip(round(budget / 40_000), 1, 12))
    regions = np.array([m.region for m in MARKETS])
    specs = []
    for _ in range(n_spikes):
        country = _country(rng)
        # a track heard elsewhere (popularity above the median) but about the least here
        heard = np.flatnonzero(pool.popularity >= np.median(pool.popularity))
        quiet = heard[np.argsort(pool.heard_in(country)[heard], kind="stable")]
        target = str(pool.ids[quiet[int(rng.integers(0, max(1, min(5, len(quiet) // 10))))]])
        local = np.flatnonzero(pool.artist_region == regions[country])
        days = int(rng.integers(1, 3))
        first, last = _days(rng, scale, days)
        accounts = max(5, round(budget / n_spikes / (days * SPIKE_PLAYS_PER_DAY)))
        per_day = budget / n_spikes / accounts / days
        # one sitting of mostly full plays, started late enough in the day yet done by midnight
        sitting = 1.3 * per_day * (0.85 * float(pool.duration_ms.mean()) + 2_750)
        latest = max(6 * HOUR_MS + 1, int(DAY_MS - sitting))
        for _ in range(accounts):
            specs.append(
                _spec(
                    "geo_spike",
                    country=country,
                    platform=str(rng.choice(["android", "ios", "web"], p=[0.7, 0.2, 0.1])),
                    source="search",
                    first_day=first,
                    last_day=last,
                    signup=first - int(rng.integers(30, 400)),
                    hours=0.0,
                    plays_per_day=per_day,
                    interval_ms=0,
                    start_ms=int(rng.integers(6 * HOUR_MS, latest)),
                    target_share=0.7,
                    targets=[target],
                    camouflage=pool.camouflage(rng, 10, among=local if len(local) >= 10 else None),
                )
            )
    return specs


def _assemble(scale: Scale, specs: list[dict], users: pl.DataFrame, pool: _TrackPool) -> FraudPlan:
    """Turn account specs into the plan's tables; bot ids continue the honest id sequence."""
    first_number = _next_user_number(users)
    ids = [f"u{first_number + i:07d}" for i in range(len(specs))]
    start = scale.start
    cluster_of_country = np.argmax(country_cluster_matrix(), axis=1)

    def date(day: int) -> dt.date:
        return start + dt.timedelta(days=int(day))

    country_idx = np.array([s["country"] for s in specs], dtype=np.int16)
    bot_users = pl.DataFrame(
        {
            "user_id": ids,
            "country": [MARKET_CODES[c] for c in country_idx],
            "plan": [
                "premium" if s["kind"] in ("looper", "machine_regular") else "free" for s in specs
            ],
            "signup_date": [date(s["signup"]) for s in specs],
            "platform": [s["platform"] for s in specs],
            "onboarding_genres": [[] for _ in specs],
            "_cluster": cluster_of_country[country_idx].astype(np.int16),
            "_activity": np.zeros(len(specs), dtype=np.float32),
            "_country_idx": country_idx,
        },
        schema_overrides={"onboarding_genres": pl.List(pl.Utf8)},
    )
    if users.height:
        bot_users = bot_users.select(users.columns).cast(users.schema)  # type: ignore[arg-type]
    accounts_truth = pl.DataFrame(
        {
            "user_id": ids,
            "kind": [s["kind"] for s in specs],
            "target_track_ids": [list(s["targets"]) for s in specs],
            "first_day": [date(s["first_day"]) for s in specs],
            "last_day": [date(s["last_day"]) for s in specs],
        },
        schema_overrides={"target_track_ids": pl.List(pl.Utf8)},
    )
    tracks_truth = (
        accounts_truth.select("target_track_ids", "kind")
        .explode("target_track_ids")
        .rename({"target_track_ids": "track_id"})
        .unique()
        .sort("track_id", "kind")
    )
    behaviour = accounts_truth.with_columns(
        pl.Series("country_idx", country_idx),
        pl.Series("platform", [s["platform"] for s in specs]),
        pl.Series("source", [s["source"] for s in specs]),
        pl.Series("hours", [float(s["hours"]) for s in specs]),
        pl.Series("plays_per_day", [float(s["plays_per_day"]) for s in specs]),
        pl.Series("interval_ms", [int(s["interval_ms"]) for s in specs], dtype=pl.Int32),
        pl.Series("start_ms", [int(s["start_ms"]) for s in specs], dtype=pl.Int32),
        pl.Series("target_share", [float(s["target_share"]) for s in specs]),
        pl.Series(
            "camouflage_track_ids", [list(s["camouflage"]) for s in specs], dtype=pl.List(pl.Utf8)
        ),
    )
    return FraudPlan(
        bot_users, accounts_truth, tracks_truth, behaviour, round(_planned_events(specs))
    )


def _next_user_number(users: pl.DataFrame) -> int:
    """Bots look like ordinary users: their ids simply continue after the last honest one."""
    if users.height == 0:
        return 0
    numbers = users["user_id"].str.slice(1).cast(pl.Int64, strict=False)
    return int(numbers.max() or 0) + 1  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- simulation


def compile_bots(
    plan: FraudPlan, user_index: dict[str, int], track_index: dict[str, int], start: dt.date
) -> BotArrays:
    """The plan as arrays for :func:`simulate_bot_day`, with ids resolved to dictionary indices."""
    b = plan.behaviour
    days = b.select(
        (pl.col("first_day") - pl.lit(start)).dt.total_days().alias("f"),
        (pl.col("last_day") - pl.lit(start)).dt.total_days().alias("l"),
    )
    return BotArrays(
        user=np.array([user_index[u] for u in b["user_id"].to_list()], dtype=np.int32),
        kind=np.array([FRAUD_KINDS.index(k) for k in b["kind"].to_list()], dtype=np.int8),
        country=b["country_idx"].to_numpy().astype(np.int16),
        platform=np.array([_PLATFORM[p] for p in b["platform"].to_list()], dtype=np.int8),
        source=np.array([_SOURCE[s] for s in b["source"].to_list()], dtype=np.int8),
        first_day=days["f"].to_numpy().astype(np.int32),
        last_day=days["l"].to_numpy().astype(np.int32),
        hours=b["hours"].to_numpy().astype(np.float64),
        plays_per_day=b["plays_per_day"].to_numpy().astype(np.float64),
        interval_ms=b["interval_ms"].to_numpy().astype(np.int32),
        start_ms=b["start_ms"].to_numpy().astype(np.int32),
        target_share=b["target_share"].to_numpy().astype(np.float64),
        targets=_csr(b["target_track_ids"].to_list(), track_index),
        camouflage=_csr(b["camouflage_track_ids"].to_list(), track_index),
    )


def _csr(lists: list[list[str]], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(x) for x in lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = np.array([index[t] for x in lists for t in x], dtype=np.int32)
    return offsets, values


def simulate_bot_day(
    bots: BotArrays, day: int, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    """All bot plays of one day as PLAY_FIELDS columns (start_ms: offset into the UTC day)."""
    active = (bots.first_day <= day) & (day <= bots.last_day)
    parts = []
    for code, simulate in enumerate((_loop, _implausible_day, _machine_day, _farm_day, _spike_day)):
        who = np.flatnonzero(active & (bots.kind == code))
        if len(who):
            parts.append(simulate(bots, who, rng, duration_ms))
    if not parts:
        return _empty()
    out = {k: np.concatenate([p[k] for p in parts]) for k in PLAY_FIELDS}
    keep = (out["start_ms"] >= 0) & (out["start_ms"] < DAY_MS)
    return {k: v[keep] for k, v in out.items()}


def _empty() -> dict[str, np.ndarray]:
    dtypes = (np.int32, np.int32, np.int64, np.int32, np.int16, np.int8, np.int8, bool, bool)
    return {k: np.zeros(0, dtype=d) for k, d in zip(PLAY_FIELDS, dtypes, strict=True)}


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of `counts` plays: the run of each play and each play's rank inside its run."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - starts[owner]


def _offsets(step: np.ndarray, owner: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Exclusive cumulative sum of `step` inside each run: when each play starts after the first."""
    total = np.cumsum(step, dtype=np.int64)
    run_start = np.cumsum(counts) - counts
    before = np.concatenate([[0], total])[run_start]
    return total - step - before[owner]


def _pick(
    bots: BotArrays, who: np.ndarray, owner: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each play's track: a target at the bot's target share, else one of its camouflage tracks."""
    n = len(owner)
    acc = who[owner]
    t_off, t_val = bots.targets
    c_off, c_val = bots.camouflage
    t_len = (t_off[acc + 1] - t_off[acc]).astype(np.int64)
    c_len = (c_off[acc + 1] - c_off[acc]).astype(np.int64)
    u = rng.random(n)
    target = (u < bots.target_share[acc]) | (c_len == 0)
    t_pick = t_val[t_off[acc] + (rng.random(n) * t_len).astype(np.int64)]
    c_rank = (rng.random(n) * c_len).astype(np.int64)
    if len(c_val) == 0:
        return t_pick.astype(np.int32)
    c_pick = c_val[np.minimum(c_off[acc] + c_rank, len(c_val) - 1)]
    return np.where(target, t_pick, c_pick).astype(np.int32)


def _columns(
    bots: BotArrays,
    who: np.ndarray,
    owner: np.ndarray,
    track: np.ndarray,
    start: np.ndarray,
    ms_played: np.ndarray,
    saved: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    acc = who[owner]
    return {
        "user": bots.user[acc],
        "track": track,
        "start_ms": start.astype(np.int64),
        "ms_played": ms_played.astype(np.int32),
        "country": bots.country[acc],
        "platform": bots.platform[acc],
        "source": bots.source[acc],
        "saved": np.zeros(len(owner), dtype=bool) if saved is None else saved,
        "skipped": ms_played < 30_000,
    }


def _loop(
    bots: BotArrays, who: np.ndarray, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    counts = np.rint(bots.plays_per_day[who]).astype(np.int64)
    owner, _ = _segments(counts)
    interval = rng.integers(LOOPER_INTERVAL_MS[0], LOOPER_INTERVAL_MS[1] + 1, size=len(owner))
    start = bots.start_ms[who][owner] + _offsets(interval, owner, counts)
    ms = rng.integers(LOOPER_MS_PLAYED[0], LOOPER_MS_PLAYED[1] + 1, size=len(owner))
    track = _pick(bots, who, owner, rng)
    return _columns(bots, who, owner, track, start, np.minimum(ms, duration_ms[track]))


def _implausible_day(
    bots: BotArrays, who: np.ndarray, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    """Back-to-back full plays until the bot's daily hours of listening are reached."""
    counts = np.ceil(1.5 * bots.plays_per_day[who]).astype(np.int64) + 10  # cut by hours below
    owner, _ = _segments(counts)
    track = _pick(bots, who, owner, rng)
    dur = duration_ms[track].astype(np.int64)
    ms = dur - rng.integers(0, 1_500, size=len(owner))
    skip = rng.random(len(owner)) < 0.03  # a human-ish few skips; the hours give it away
    ms = np.where(skip, rng.integers(2_000, 20_000, size=len(owner)), ms)
    step = ms + rng.integers(*IMPLAUSIBLE_GAP_MS, size=len(owner))
    offset = _offsets(step, owner, counts)
    listened = _offsets(ms, owner, counts)  # listening before each play
    keep = listened < (bots.hours[who] * HOUR_MS)[owner]
    start = bots.start_ms[who][owner] + offset
    cols = _columns(bots, who, owner, track, start, ms)
    return {k: v[keep] for k, v in cols.items()}


def _machine_day(
    bots: BotArrays, who: np.ndarray, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    counts = np.rint(bots.plays_per_day[who]).astype(np.int64)
    owner, rank = _segments(counts)
    interval = bots.interval_ms[who][owner].astype(np.int64)
    jitter = rng.integers(-MACHINE_JITTER_MS, MACHINE_JITTER_MS + 1, size=len(owner))
    start = bots.start_ms[who][owner] + rank * interval + jitter
    track = _pick(bots, who, owner, rng)
    ms = np.maximum(np.minimum(duration_ms[track], interval - 1_500), 30_000)
    return _columns(bots, who, owner, track, start, ms)


def _farm_day(
    bots: BotArrays, who: np.ndarray, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    counts = rng.poisson(bots.plays_per_day[who]).astype(np.int64)
    owner, rank = _segments(counts)
    track = _pick(bots, who, owner, rng)
    ms = np.minimum(rng.integers(*FARM_MS_PLAYED, size=len(owner)), duration_ms[track])
    step = ms + rng.integers(1_000, 6_000, size=len(owner))
    # two sittings a day, the second about nine hours after the first
    second = rank >= counts[owner] // 2
    start = bots.start_ms[who][owner] + _offsets(step, owner, counts) + second * 9 * HOUR_MS
    saved = rng.random(len(owner)) < 0.2
    return _columns(bots, who, owner, track, start, ms, saved)


def _spike_day(
    bots: BotArrays, who: np.ndarray, rng: np.random.Generator, duration_ms: np.ndarray
) -> dict[str, np.ndarray]:
    counts = rng.poisson(bots.plays_per_day[who]).astype(np.int64)
    owner, _ = _segments(counts)
    track = _pick(bots, who, owner, rng)
    dur = duration_ms[track].astype(np.int64)
    full = rng.random(len(owner)) < 0.7
    ms = np.where(
        full,
        dur - rng.integers(0, 2_000, size=len(owner)),
        30_000 + (rng.random(len(owner)) * (dur - 30_000)).astype(np.int64),
    )
    step = ms + rng.integers(500, 5_000, size=len(owner))
    start = bots.start_ms[who][owner] + _offsets(step, owner, counts)
    return _columns(bots, who, owner, track, start, ms)


def kind_counts(plan: FraudPlan) -> dict[str, int]:
    """Accounts per fraud kind (for logs and the world's summary)."""
    counts = plan.accounts_truth.group_by("kind").len()
    found = dict(zip(counts["kind"].to_list(), counts["len"].to_list(), strict=True))
    return {k: int(found.get(k, 0)) for k in FRAUD_KINDS}


__all__ = [
    "FRAUD_KINDS",
    "FRAUD_SHARE",
    "PLAY_FIELDS",
    "BotArrays",
    "FraudPlan",
    "compile_bots",
    "kind_counts",
    "plan_fraud",
    "simulate_bot_day",
]
