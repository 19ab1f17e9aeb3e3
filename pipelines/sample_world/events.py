"""Listening events of the sample world, landed as daily Hive partitions of Parquet batches.

Plays carry the structure downstream jobs must rediscover:

* **taste** - a play's track is drawn with probability proportional to track
  popularity (a power law) x the user's cluster genre weight x the cultural
  affinity between the user's and the artist's country; each user also has a
  few favourites that take about a third of their plays;
* **time** - weekly seasonality (weekends busier), evening-peaked sessions in
  the user's local time, the "sleep" cluster's noise tracks at night, nobody
  before their signup day and no track before its release day, new releases
  boosted for two weeks;
* **behaviour** - skips (< 30 s) likelier far from the user's taste, saves
  likelier close to it, radio/algorithmic sources likelier on the free plan,
  the odd trip abroad and second device;
* **fraud** - the bots of :mod:`pipelines.sample_world.fraud`;
* **delivery defects** - the partition is the *arrival* day: about 1.5% of
  plays arrive 1-3 days late, 0.1% 8-20 days late (beyond a 7-day lateness
  window), and 0.5% are delivered twice (same ``event_id``, same content).

Every play-day is simulated from its own random streams (``[seed, 3, day, ...]``)
with no state carried between days, so days run in parallel processes and the
same (scale, seed) always produces byte-identical files, whatever ``workers``.
Per-user traits that span the window (favourites, skip propensity) come from a
separate static stream and are computed once.
Per-row strings never exist in Python: ids are indices into Arrow dictionaries
until the writer materialises them.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from audio.taxonomy import GENRE_IDS
from pipelines.event_contract import EVENT_SCHEMA, PLATFORMS, SOURCES
from pipelines.sample_world.fraud import (
    PLAY_FIELDS,
    BotArrays,
    FraudPlan,
    compile_bots,
    simulate_bot_day,
)
from pipelines.sample_world.geography import MARKET_CODES, MARKETS
from pipelines.sample_world.scales import Scale
from pipelines.sample_world.taste import CLUSTER_NAMES, cluster_genre_matrix, cultural_affinity


EVENTS_PATH = Path("landing") / "events"
"""Where, under the world's output folder, the events land (``date=YYYY-MM-DD`` partitions)."""

SKIP_THRESHOLD_MS = 30_000
LATENESS_WINDOW_DAYS = 7
LATE_SHARE, LATE_LAGS = 0.015, (1, 3)
BEYOND_SHARE, BEYOND_LAGS = 0.001, (8, 20)
DUPLICATE_SHARE = 0.005

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
FAVOURITES = 8
FAVOURITE_SHARE = 0.35
EXPLORE_SHARE = 0.05
PLAYS_PER_SESSION = 10.0
SESSION_BREAK_MS = 5 * 60_000
LAMBDA_CAP = 110.0
"""Most plays an honest user averages on an active day (~6-7 h of full plays at most)."""
MAX_PLAYS_PER_DAY = 160
TRAVEL_SHARE = 0.01
OTHER_DEVICE_SHARE = 0.06
SLEEPER_NIGHT_SHARE = 0.75
MIN_SKIP = 0.04
"""Every honest play may be skipped: nobody listens like a machine that never skips."""
NIGHT_NOISE_SHARE = 0.85
ROWS_PER_FILE = 1_000_000
USER_BLOCK = 1 << 17
STATIC_STREAM = 1 << 20
"""Stream id for per-user traits that hold for the whole window (day ids stay far below it)."""

# Monday..Sunday: weekends are busier
WEEKDAY_FACTOR = np.array([0.93, 0.91, 0.94, 0.98, 1.08, 1.18, 1.12])
# local hour-of-day weights: a morning commute bump and an evening peak
DAY_HOURS = np.array(
    [
        0.6,
        0.35,
        0.25,
        0.2,
        0.25,
        0.5,
        1.2,
        2.2,
        2.6,
        2.0,
        1.7,
        1.8,
        2.1,
        2.0,
        1.8,
        1.9,
        2.3,
        2.9,
        3.6,
        4.3,
        4.6,
        4.2,
        3.1,
        1.6,
    ]
)
NIGHT_HOURS = np.array(
    [3.0, 2.2, 1.5, 1.0, 0.6, 0.2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3, 1.5, 3.5, 4.0]
)
# UTC offsets (hours) of the markets in September/October
UTC_OFFSET_HOURS = {
    "CD": 1,
    "CG": 1,
    "CM": 1,
    "NG": 1,
    "GH": 0,
    "CI": 0,
    "SN": 0,
    "ZA": 2,
    "TZ": 3,
    "KE": 3,
    "FR": 2,
    "BE": 2,
    "GB": 1,
    "US": -5,
}
# cumulative source mix (search, playlist, algorithmic, radio): free users lean on radio
SOURCE_CUM = {
    "free": np.cumsum([0.10, 0.20, 0.35, 0.35]),
    "paid": np.cumsum([0.25, 0.40, 0.25, 0.10]),
}
FAVOURITE_CUM = np.cumsum(1.0 / np.arange(1, FAVOURITES + 1) ** 0.8)
FAVOURITE_CUM /= FAVOURITE_CUM[-1]

N_CLUSTERS = len(CLUSTER_NAMES)
SLEEP_CLUSTER = CLUSTER_NAMES.index("sleep")
EXPLORE_ROW = N_CLUSTERS  # per-country row: popular music regardless of taste
NIGHT_ROW = N_CLUSTERS + 1  # per-country row: non-music (sleep) tracks
ROWS_PER_COUNTRY = N_CLUSTERS + 2

_WRITE_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    # user ids are too many per batch for a dictionary page: the writer would build one and give up
    "use_dictionary": ["track_id", "country", "platform", "source"],
    "write_statistics": ["started_at", "ms_played"],
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
}
"""Fixed writer options: part of what makes files byte-identical between runs."""


@dataclass(frozen=True)
class EventsSummary:
    """What generate_events wrote: rows (duplicates included) and how many of each defect."""

    events: int
    duplicates: int
    late: int
    late_beyond_window: int
    fraud_events: int
    files: int
    bytes: int

    def __add__(self, other: EventsSummary) -> EventsSummary:
        return EventsSummary(*(a + b for a, b in zip(_astuple(self), _astuple(other), strict=True)))


def _astuple(s: EventsSummary) -> tuple[int, ...]:
    return (s.events, s.duplicates, s.late, s.late_beyond_window, s.fraud_events, s.files, s.bytes)


@dataclass(frozen=True)
class WorldTables:
    """Everything a play-day needs, as numpy/Arrow arrays (shipped once to each worker)."""

    seed: int
    start: dt.date
    first_weekday: int
    user_ids: pa.Array  # honest users first, then bots: the user_id dictionary
    track_ids: pa.Array
    # honest users
    cluster: np.ndarray
    country: np.ndarray
    platform: np.ndarray
    paid: np.ndarray
    signup_day: np.ndarray
    rate: np.ndarray  # expected plays on an active weekday-factor-1 day
    p_active: np.ndarray
    skip_base: np.ndarray
    favourites: np.ndarray  # (users, FAVOURITES) track indices
    tz_offset_ms: np.ndarray  # per market
    # tracks
    duration_ms: np.ndarray
    release_day: np.ndarray
    licensed: np.ndarray  # (tracks, markets)
    taste: np.ndarray  # (clusters, tracks): genre weight relative to the cluster's favourite genre
    weights: np.ndarray  # (markets * ROWS_PER_COUNTRY, tracks) before the day's release factor
    bots: BotArrays


# ----------------------------------------------------------------------------- public API


def generate_events(
    scale: Scale,
    seed: int,
    tracks: pl.DataFrame,
    users: pl.DataFrame,
    artists: pl.DataFrame,
    fraud: FraudPlan,
    out_dir: Path,
    *,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> EventsSummary:
    """Simulate every play-day and land its files under ``out_dir/landing/events``.

    ``users`` may or may not already contain ``fraud.bot_users``; bots never
    play as honest users either way. The events folder is replaced wholesale so
    that no file of an earlier world survives. Days are independent, so with
    ``workers > 1`` they run in spawned processes, each writing its own files.
    """
    world = build_world(scale, seed, tracks, users, artists, fraud)
    root = Path(out_dir) / EVENTS_PATH
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    total = EventsSummary(0, 0, 0, 0, 0, 0, 0)
    for day, summary in _run_days(world, root, range(scale.days), workers):
        total = total + summary
        if progress is not None:
            date = scale.start + dt.timedelta(days=day)
            progress(
                f"events {date}: {summary.events:,} rows in {summary.files} files "
                f"({day + 1}/{scale.days} days)"
            )
    return total


def events_root(out_dir: Path) -> Path:
    """The landing folder of a world's events."""
    return Path(out_dir) / EVENTS_PATH


def _run_days(
    world: WorldTables, root: Path, days: Iterable[int], workers: int
) -> Iterable[tuple[int, EventsSummary]]:
    """Days in order; in worker processes when asked (spawned: polars and fork do not mix)."""
    days = list(days)
    if workers <= 1 or len(days) <= 1:
        for day in days:
            yield day, _simulate_and_write(world, day, root)
        return
    ctx = mp.get_context("spawn")
    # Not `with Pool(...)`: its exit calls terminate(), and terminate() can hang for
    # good when the pool's worker handler replaces a just-terminated worker with a
    # fresh one that is then joined but never signalled (seen in CI). After a normal
    # run the pool is closed and joined instead; terminate only on failure.
    pool = ctx.Pool(min(workers, len(days)), initializer=_init_worker, initargs=(world, root))
    try:
        yield from zip(days, pool.imap(_worker_day, days), strict=True)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


_WORKER: dict[str, object] = {}


def _init_worker(world: WorldTables, root: Path) -> None:
    _keep_freed_memory()
    _WORKER["world"], _WORKER["root"] = world, root


def _keep_freed_memory() -> None:
    """Let glibc keep big freed blocks instead of unmapping them (worker processes only).

    Every day allocates the same large temporaries; handing them back to the
    kernel and faulting them in again cost about a fifth of the run in system
    time. Peak memory is unchanged, it is just held a little longer.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, (1 << 31) - 1)


def _worker_day(day: int) -> EventsSummary:
    return _simulate_and_write(_WORKER["world"], day, _WORKER["root"])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- world tables


def build_world(
    scale: Scale,
    seed: int,
    tracks: pl.DataFrame,
    users: pl.DataFrame,
    artists: pl.DataFrame,
    fraud: FraudPlan,
) -> WorldTables:
    """Precompute per-user traits, per-track arrays and the taste weight rows."""
    bot_ids = fraud.bot_users["user_id"]
    honest = users.filter(~pl.col("user_id").is_in(bot_ids.implode()))
    user_ids = pl.concat([honest["user_id"], bot_ids]).to_arrow().cast(pa.string())
    user_index = {u: len(honest) + i for i, u in enumerate(bot_ids.to_list())}
    track_ids = tracks["track_id"].to_arrow().cast(pa.string())
    track_index = {t: i for i, t in enumerate(tracks["track_id"].to_list())}

    t = _track_arrays(scale, tracks, artists)
    weights = _taste_weights(t)
    rng = np.random.default_rng([seed, 3, STATIC_STREAM])
    activity = honest["_activity"].to_numpy().astype(np.float64)
    p_active = 0.25 + 0.6 * activity / (activity + 1.0)
    signup_day = _day_index(honest["signup_date"], scale.start)
    target = max(scale.events - fraud.expected_events, 0)
    rate = _calibrate(activity, p_active, signup_day, scale, target)
    cluster = honest["_cluster"].to_numpy().astype(np.int16)
    country = honest["_country_idx"].to_numpy().astype(np.int16)
    favourites = _favourites(rng, weights, _release_factor(t["release_day"], -1), cluster, country)
    return WorldTables(
        seed=seed,
        start=scale.start,
        first_weekday=scale.start.weekday(),
        user_ids=user_ids,
        track_ids=track_ids,
        cluster=cluster,
        country=country,
        platform=honest["platform"]
        .replace_strict(list(PLATFORMS), list(range(3)), return_dtype=pl.Int8)
        .to_numpy(),
        paid=(honest["plan"] != "free").to_numpy(),
        signup_day=signup_day,
        rate=rate,
        p_active=p_active,
        skip_base=(0.04 + 0.12 * rng.beta(2.0, 5.0, size=len(honest))),
        favourites=favourites,
        tz_offset_ms=np.array(
            [UTC_OFFSET_HOURS[c] * HOUR_MS for c in MARKET_CODES], dtype=np.int64
        ),
        duration_ms=t["duration_ms"],
        release_day=t["release_day"],
        licensed=t["licensed"],
        taste=t["taste"],
        weights=weights,
        bots=compile_bots(fraud, user_index, track_index, scale.start),
    )


def _track_arrays(
    scale: Scale, tracks: pl.DataFrame, artists: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Per-track numbers the simulation needs, in catalog order."""
    artist_country = tracks.select("artist_id").join(
        artists.select("artist_id", "country"), on="artist_id", how="left", maintain_order="left"
    )["country"]
    licensed = tracks.select(
        (
            pl.col("territories").list.contains("WW") | pl.col("territories").list.contains(code)
        ).alias(code)
        for code in MARKET_CODES
    ).to_numpy()
    genre = tracks["genre"].replace_strict(
        list(GENRE_IDS), list(range(len(GENRE_IDS))), return_dtype=pl.Int32
    )
    cg = cluster_genre_matrix()
    genre_np = genre.to_numpy()
    return {
        "duration_ms": tracks["duration_ms"].to_numpy().astype(np.int32),
        "release_day": _day_index(tracks["release_date"], scale.start),
        "licensed": licensed.astype(bool),
        "popularity": tracks["popularity"].to_numpy().astype(np.float64),
        "is_music": tracks["is_music"].to_numpy().astype(bool),
        "artist_country": artist_country.replace_strict(
            list(MARKET_CODES), list(range(len(MARKET_CODES))), return_dtype=pl.Int16
        ).to_numpy(),
        "genre": genre_np,
        "taste": (cg[:, genre_np] / cg.max(axis=1, keepdims=True)).astype(np.float32),
    }


def _taste_weights(t: dict[str, np.ndarray]) -> np.ndarray:
    """Unnormalised draw weights: a row per (market, cluster | explore | night), a column per track.

    Cluster rows: popularity x genre weight x cultural affinity. The sleep
    cluster's row leaves noise out: sleepers get noise from the night row, at night.
    """
    cg = cluster_genre_matrix()
    cg[SLEEP_CLUSTER, GENRE_IDS.index("sleep_sounds")] = 0.0
    n_markets = len(MARKETS)
    affinity = cultural_affinity(np.arange(n_markets)[:, None], t["artist_country"][None, :])
    allowed = affinity * t["licensed"].T  # (markets, tracks)
    pop = t["popularity"]
    w = np.empty((n_markets, ROWS_PER_COUNTRY, len(pop)), dtype=np.float64)
    w[:, :N_CLUSTERS, :] = (pop * cg[:, t["genre"]])[None, :, :] * allowed[:, None, :]
    w[:, EXPLORE_ROW, :] = np.sqrt(pop) * t["is_music"] * t["licensed"].T
    w[:, NIGHT_ROW, :] = pop * ~t["is_music"] * t["licensed"].T
    return w.reshape(n_markets * ROWS_PER_COUNTRY, len(pop))


def _release_factor(release_day: np.ndarray, day: int) -> np.ndarray:
    """Nothing before release; a boost fading over the first two weeks after it."""
    age = day - release_day.astype(np.float64)
    boost = 1.0 + 3.0 * np.exp(-np.maximum(age, 0.0) / 5.0)
    return np.where(age < 0, 0.0, np.where(age < 14, boost, 1.0))


def _day_cdf(weights: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative weights per row, row totals, and the row each row really draws from.

    A row without any playable track (no track of the cluster's genres yet)
    falls back to its market's explore row, then to the first non-empty row.
    """
    cdf = np.cumsum(weights * factor[None, :], axis=1)
    totals = cdf[:, -1].copy()
    rows = np.arange(len(totals))
    explore = (rows // ROWS_PER_COUNTRY) * ROWS_PER_COUNTRY + EXPLORE_ROW
    alias = np.where(totals > 0, rows, explore)
    alias = np.where(totals[alias] > 0, alias, int(np.argmax(totals > 0)))
    return cdf, totals, alias


def _draw(cdf: np.ndarray, totals: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws, one per (row, uniform), grouped by row so each search stays in cache."""
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=len(totals))
    out = np.empty(len(rows), dtype=np.int32)
    ends = np.cumsum(counts)
    last = cdf.shape[1] - 1
    for r in np.flatnonzero(counts):
        idx = order[ends[r] - counts[r] : ends[r]]
        found = np.searchsorted(cdf[r], u[idx] * totals[r], side="right")
        out[idx] = np.minimum(found, last)
    return out


def _favourites(
    rng: np.random.Generator,
    weights: np.ndarray,
    factor: np.ndarray,
    cluster: np.ndarray,
    country: np.ndarray,
) -> np.ndarray:
    """Each user's few go-to tracks, drawn from their taste among tracks out before the window."""
    cdf, totals, alias = _day_cdf(weights, factor)
    rows = alias[country.astype(np.int64) * ROWS_PER_COUNTRY + cluster]
    rows = np.repeat(rows, FAVOURITES).astype(np.int16)
    return _draw(cdf, totals, rows, rng.random(len(rows))).reshape(-1, FAVOURITES)


def _calibrate(
    activity: np.ndarray, p_active: np.ndarray, signup_day: np.ndarray, scale: Scale, target: float
) -> np.ndarray:
    """Per-user expected plays on an active day, scaled so the window's total meets `target`.

    Counts each user's eligible days per weekday, then bisects the global rate
    (capped per user at LAMBDA_CAP, so heavy users stay humanly possible).
    """
    first = np.maximum(signup_day, 0).astype(np.int64)
    counts = np.zeros((len(activity), 7))
    for w in range(7):
        # the first eligible day falling on weekday w, then every seventh day up to the end
        first_w = first + (w - scale.start.weekday() - first) % 7
        counts[:, w] = np.where(first_w < scale.days, (scale.days - 1 - first_w) // 7 + 1, 0)
    weighted = counts * p_active[:, None]  # expected active days, per weekday
    # users sorted by activity: the capped ones are always a suffix, so each
    # evaluation is a search plus prefix sums instead of a pass over all users
    order = np.argsort(activity, kind="stable")
    a = activity[order]
    zero = np.zeros((1, 7))
    uncapped = np.concatenate([zero, np.cumsum(weighted[order] * a[:, None], axis=0)])
    days = np.concatenate([zero, np.cumsum(weighted[order], axis=0)])

    weekdays = np.arange(7)

    def expected(base: float) -> float:
        k = np.searchsorted(
            a, LAMBDA_CAP / (base * WEEKDAY_FACTOR)
        )  # first capped user per weekday
        below = base * WEEKDAY_FACTOR * uncapped[k, weekdays]
        capped = LAMBDA_CAP * (days[-1] - days[k, weekdays])
        return float((below + capped).sum())

    lo, hi = 1e-6, 1e4
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if expected(mid) < target else (lo, mid)
    return np.minimum(hi * activity, LAMBDA_CAP / WEEKDAY_FACTOR.min())


# ----------------------------------------------------------------------------- one play-day


def simulate_day(world: WorldTables, day: int) -> tuple[dict[str, np.ndarray], int]:
    """All plays of one day (honest then bots) as PLAY_FIELDS columns, and the bot play count.

    Honest users are simulated in fixed blocks, each from its own stream: the
    working set of a block stays in cache, and the result does not depend on
    anything but (seed, day).
    """
    cdf, totals, alias = _day_cdf(world.weights, _release_factor(world.release_day, day))
    parts = []
    for block, lo in enumerate(range(0, len(world.cluster), USER_BLOCK)):
        rng = np.random.default_rng([world.seed, 3, day, 0, block])
        hi = min(lo + USER_BLOCK, len(world.cluster))
        parts.append(_honest_block(world, day, lo, hi, rng, (cdf, totals, alias)))
    bots = simulate_bot_day(
        world.bots, day, np.random.default_rng([world.seed, 3, day, 1]), world.duration_ms
    )
    parts.append(bots)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in PLAY_FIELDS}
    return cols, len(bots["user"])


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of `counts` items: each item's run and its rank inside the run."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def _uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """float32 uniforms: plenty for yes/no decisions and offsets, at half the cost of float64."""
    return rng.random(n, dtype=np.float32)


def _honest_block(
    w: WorldTables,
    day: int,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    day_cdf: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """Plays of users [lo, hi) today: who listens, in which sessions, to what, how, and when."""
    active = (w.signup_day[lo:hi] <= day) & (_uniform(rng, hi - lo) < w.p_active[lo:hi])
    act = lo + np.flatnonzero(active)
    lam = np.minimum(w.rate[act] * WEEKDAY_FACTOR[(w.first_weekday + day) % 7], LAMBDA_CAP)
    counts = np.minimum(rng.poisson(lam), MAX_PLAYS_PER_DAY)
    act, counts = act[counts > 0], counts[counts > 0].astype(np.int64)
    owner, rank = _segments(counts)
    user = act[owner]
    n = len(user)

    # sessions: a user's plays split into runs of about PLAYS_PER_SESSION
    n_sess = 1 + rng.binomial(counts - 1, 1.0 / PLAYS_PER_SESSION)
    play_sess = (np.cumsum(n_sess) - n_sess)[owner] + (rank * n_sess[owner]) // counts[owner]
    sess_owner = np.repeat(np.arange(len(act)), n_sess)
    sess_user = act[sess_owner]
    n_s = len(sess_owner)
    night = (w.cluster[sess_user] == SLEEP_CLUSTER) & (_uniform(rng, n_s) < SLEEPER_NIGHT_SHARE)
    device = w.platform[sess_user]
    device = np.where(
        _uniform(rng, n_s) < OTHER_DEVICE_SHARE, (device + rng.integers(1, 3, n_s)) % 3, device
    )

    track, fav, noise = _choose_tracks(w, rng, user, night[play_sess], day_cdf)
    ms, skipped, saved = _outcomes(w, rng, user, track, fav, noise)
    paid = w.paid[user]
    us = _uniform(rng, n)
    source = np.where(
        paid,
        np.searchsorted(SOURCE_CUM["paid"], us, side="right"),
        np.searchsorted(SOURCE_CUM["free"], us, side="right"),
    )
    home = w.country[user]
    travels = _uniform(rng, len(act)) < TRAVEL_SHARE
    dest = (w.country[act] + rng.integers(1, len(MARKETS), len(act))) % len(MARKETS)
    abroad = travels[owner] & w.licensed[track, dest[owner]]
    country = np.where(abroad, dest[owner], home)

    # when: sessions at local hours, laid out one after another per user
    step = ms + 300 + rng.exponential(1_200.0, n).astype(np.int64)
    local = _hours(rng, night)
    sess_start = (local - w.tz_offset_ms[w.country[sess_user]]) % DAY_MS
    sess_counts = np.bincount(play_sess, minlength=n_s)
    first_play = np.cumsum(sess_counts) - sess_counts
    sess_len = np.add.reduceat(step, first_play) if n else np.zeros(0, dtype=np.int64)
    sess_start = _schedule(sess_owner, sess_start, sess_len)
    within = np.cumsum(step) - step
    start = sess_start[play_sess] + within - within[first_play][play_sess]
    cols = {
        "user": user.astype(np.int32),
        "track": track,
        "start_ms": start,
        "ms_played": ms.astype(np.int32),
        "country": country.astype(np.int16),
        "platform": device[play_sess].astype(np.int8),
        "source": source.astype(np.int8),
        "saved": saved,
        "skipped": skipped,
    }
    keep = start < DAY_MS  # the rare session pushed past midnight loses its tail
    return cols if keep.all() else {k: v[keep] for k, v in cols.items()}


def _choose_tracks(
    w: WorldTables,
    rng: np.random.Generator,
    user: np.ndarray,
    night: np.ndarray,
    day_cdf: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """Each play's track: a favourite, a taste draw, an exploration draw, or night noise."""
    cdf, totals, alias = day_cdf
    n = len(user)
    u = _uniform(rng, n)
    noise = night & (_uniform(rng, n) < NIGHT_NOISE_SHARE)
    fav = (u < FAVOURITE_SHARE) & ~noise
    explore = (u >= FAVOURITE_SHARE) & (u < FAVOURITE_SHARE + EXPLORE_SHARE) & ~noise
    kind = np.where(noise, NIGHT_ROW, np.where(explore, EXPLORE_ROW, w.cluster[user]))
    row = w.country[user].astype(np.int32) * ROWS_PER_COUNTRY + kind
    track = np.empty(n, dtype=np.int32)
    fi = np.flatnonzero(fav)
    track[fi] = w.favourites[
        user[fi], np.searchsorted(FAVOURITE_CUM, _uniform(rng, len(fi)), side="right")
    ]
    di = np.flatnonzero(~fav)
    # float64 uniforms here: the rarest tracks' probabilities are far below float32 resolution
    track[di] = _draw(cdf, totals, alias[row[di]].astype(np.int16), rng.random(len(di)))
    return track, fav, noise


def _outcomes(
    w: WorldTables,
    rng: np.random.Generator,
    user: np.ndarray,
    track: np.ndarray,
    fav: np.ndarray,
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How long each play lasted, whether it was a skip, whether the track got saved.

    Skips are likelier the further the track is from the user's taste, rarer
    for favourites and night noise, and never below MIN_SKIP. Skipped plays
    stop before 30 s; the others play through or stop somewhere after 30 s.
    """
    n = len(user)
    score = w.taste[w.cluster[user], track]
    distance = 1.0 - score
    p_skip = w.skip_base[user] + 0.5 * distance * np.sqrt(distance)
    p_skip = np.maximum(np.where(noise, 0.0, np.where(fav, 0.5 * p_skip, p_skip)), MIN_SKIP)
    skipped = _uniform(rng, n) < p_skip
    dur = w.duration_ms[track]
    v = _uniform(rng, n)
    full = _uniform(rng, n) < 0.8
    ms = np.where(
        skipped,
        1_000 + (28_000 * v * v).astype(np.int32),
        np.where(
            full,
            dur - (1_500 * v).astype(np.int32),
            SKIP_THRESHOLD_MS + ((dur - SKIP_THRESHOLD_MS) * v).astype(np.int32),
        ),
    )
    saved = ~skipped & (_uniform(rng, n) < (0.004 + 0.04 * score) * np.where(fav, 1.6, 1.0))
    return ms.astype(np.int64), skipped, saved


def _hours(rng: np.random.Generator, night: np.ndarray) -> np.ndarray:
    """Local start time (ms into the day) of each session: evening-peaked, or night for sleepers."""
    day_cum = np.cumsum(DAY_HOURS) / DAY_HOURS.sum()
    night_cum = np.cumsum(NIGHT_HOURS) / NIGHT_HOURS.sum()
    u = rng.random(len(night))
    hour = np.where(
        night,
        np.searchsorted(night_cum, u, side="right"),
        np.searchsorted(day_cum, u, side="right"),
    )
    return np.minimum(hour, 23) * HOUR_MS + (rng.random(len(night)) * HOUR_MS).astype(np.int64)


def _schedule(owner: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Session starts moved so that one user's sessions never overlap and end before midnight.

    In start order, a session begins at max(its wish, previous end + break):
    the end of session j is C_j + max_{i<=j}(S_i - C_{i-1}) with C the running
    total of lengths, a segmented running max done with one accumulate.
    """
    if len(owner) == 0:
        return start
    # sessions come grouped by owner, so this key is nearly sorted: cheap for a stable sort
    order = np.argsort(owner.astype(np.int64) * (2 * DAY_MS) + start, kind="stable")
    o = owner[order].astype(np.int64)
    s = start[order].astype(np.int64)
    span = length[order].astype(np.int64) + SESSION_BREAK_MS
    counts = np.bincount(o)
    seg_first = np.cumsum(counts) - counts
    total = np.cumsum(span)
    c_in = total - (total - span)[seg_first][o]
    lift = o * (8 * DAY_MS)  # keeps each user's running max to itself
    m = np.maximum.accumulate(s - (c_in - span) + lift) - lift
    begin = c_in + m - span
    seg_last = np.cumsum(counts) - 1
    overflow = np.maximum(begin[seg_last] + span[seg_last] - SESSION_BREAK_MS - DAY_MS, 0)
    shift = np.minimum(overflow, begin[seg_first])
    out = np.empty_like(begin)
    out[order] = begin - shift[o]
    return out


# ----------------------------------------------------------------------------- delivery


def _simulate_and_write(world: WorldTables, day: int, root: Path) -> EventsSummary:
    cols, fraud_plays = simulate_day(world, day)
    return _deliver(world, day, cols, fraud_plays, root)


def _deliver(
    w: WorldTables, day: int, cols: dict[str, np.ndarray], fraud_plays: int, root: Path
) -> EventsSummary:
    """Order the day's plays, give them ids, arrival days and duplicates, and write the files."""
    rng = np.random.default_rng([w.seed, 3, day, 2])
    n = len(cols["user"])
    r = rng.random(n)
    late = r < LATE_SHARE
    beyond = (r >= LATE_SHARE) & (r < LATE_SHARE + BEYOND_SHARE)
    lag = np.zeros(n, dtype=np.uint64)
    lag[late] = rng.integers(LATE_LAGS[0], LATE_LAGS[1] + 1, int(late.sum()))
    lag[beyond] = rng.integers(BEYOND_LAGS[0], BEYOND_LAGS[1] + 1, int(beyond.sum()))
    # one sort orders rows by (arrival lag, start time, generation order): unique keys, any CPU
    key = (
        (lag << np.uint64(59))
        | (cols["start_ms"].astype(np.uint64) << np.uint64(32))
        | np.arange(n, dtype=np.uint64)
    )
    key.sort()
    order = (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
    lag_sorted = (key >> np.uint64(59)).astype(np.int64)
    del key
    cols = {k: v[order] for k, v in cols.items()}
    ids = _uuid_text(rng, n)
    dup = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE)
    dup_arrival = day + lag_sorted[dup] + rng.integers(0, 2, len(dup))

    bounds = np.searchsorted(lag_sorted, np.arange(BEYOND_LAGS[1] + 2))
    stamp = (w.start + dt.timedelta(days=day)).strftime("%Y%m%d")
    day_ms = _epoch_ms(w.start) + day * DAY_MS
    files = bytes_ = 0
    for name, lo, hi in _batches(cols["start_ms"], 0, int(bounds[1])):
        bytes_ += _write(root, day, name, _table(w, cols, ids, slice(lo, hi), day_ms), w.start)
        files += 1
    for lag_days in range(1, BEYOND_LAGS[1] + 1):
        lo, hi = int(bounds[lag_days]), int(bounds[lag_days + 1])
        if hi > lo:
            table = _table(w, cols, ids, slice(lo, hi), day_ms)
            bytes_ += _write(root, day + lag_days, f"late-from-{stamp}.parquet", table, w.start)
            files += 1
    for arrival in np.unique(dup_arrival):
        rows = dup[dup_arrival == arrival]
        table = _table(w, cols, ids, rows, day_ms)
        bytes_ += _write(root, int(arrival), f"redelivery-from-{stamp}.parquet", table, w.start)
        files += 1
    return EventsSummary(
        events=n + len(dup),
        duplicates=len(dup),
        late=int(late.sum()),
        late_beyond_window=int(beyond.sum()),
        fraud_events=fraud_plays,
        files=files,
        bytes=bytes_,
    )


def _batches(start_ms: np.ndarray, lo: int, hi: int) -> list[tuple[str, int, int]]:
    """On-time rows split into equal time windows of about ROWS_PER_FILE rows each."""
    wanted = -(-(hi - lo) // ROWS_PER_FILE)
    per_day = next(k for k in (1, 2, 3, 4, 6, 8, 12, 24) if k >= min(wanted, 24))
    hours = np.arange(per_day + 1) * (24 // per_day)
    edges = lo + np.searchsorted(start_ms[lo:hi], hours * HOUR_MS)
    edges[-1] = hi
    return [
        (f"batch-{hours[i]:02d}.parquet", int(edges[i]), int(edges[i + 1]))
        for i in range(per_day)
        if edges[i + 1] > edges[i] or (per_day == 1 and i == 0)
    ]


def _hex_lut() -> np.ndarray:
    """uint32 words of four hex digits for every uint16 (as laid out in memory, little-endian)."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    value = np.arange(1 << 16, dtype=np.uint32)
    low, high = value & 0xFF, value >> 8
    chars = np.stack(
        [digits[low >> 4], digits[low & 15], digits[high >> 4], digits[high & 15]], axis=1
    )
    return np.ascontiguousarray(chars.astype(np.uint8)).view("<u4").ravel()


_HEX_LUT = _hex_lut()
_UUID_CHUNK = 1 << 16  # rows per step: keeps the lookup's temporaries in cache


def _uuid_text(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random (version 4) UUIDs as an (n, 36) array of ASCII bytes, built without Python strings.

    Each 16-bit half-word maps to four hex digits through a table; the five
    groups are then stitched around the hyphens with 32-bit shifts.
    """
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    halves = raw.view("<u2")
    out = np.empty((n, 9), dtype="<u4")
    dash, s8, s16, s24 = np.uint32(ord("-")), np.uint32(8), np.uint32(16), np.uint32(24)
    for lo in range(0, n, _UUID_CHUNK):
        h = _HEX_LUT.take(halves[lo : lo + _UUID_CHUNK])  # (rows, 8) words: 32 hex digits
        o = out[lo : lo + _UUID_CHUNK]
        a, b, c = h[:, 2], h[:, 3], h[:, 4]
        o[:, 0:2] = h[:, 0:2]
        o[:, 2] = (a << s8) | dash
        o[:, 3] = (a >> s24) | (dash << s8) | (b << s16)
        o[:, 4] = (b >> s16) | (dash << s16) | (c << s24)
        o[:, 5] = (c >> s8) | (dash << s24)
        o[:, 6:9] = h[:, 5:8]
    return out.view(np.uint8)


def _string_array(text: np.ndarray) -> pa.Array:
    """An Arrow string array over an (n, width) byte matrix, without copying it."""
    n, width = text.shape
    data = np.ascontiguousarray(text)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_COUNTRIES = pa.array(MARKET_CODES, type=pa.string())
_PLATFORMS = pa.array(PLATFORMS, type=pa.string())
_SOURCES = pa.array(SOURCES, type=pa.string())


def _table(
    w: WorldTables,
    cols: dict[str, np.ndarray],
    ids: np.ndarray,
    rows: slice | np.ndarray,
    day_ms: int,
) -> pa.Table:
    """Rows of the day as an EVENT_SCHEMA table; strings come from dictionaries by index."""

    def take(dictionary: pa.Array, idx: np.ndarray) -> pa.Array:
        return dictionary.take(pa.array(idx[rows]))

    return pa.Table.from_arrays(
        [
            _string_array(ids[rows]),
            take(w.user_ids, cols["user"]),
            take(w.track_ids, cols["track"]),
            pa.array(cols["start_ms"][rows] + day_ms, type=pa.timestamp("ms", tz="UTC")),
            pa.array(cols["ms_played"][rows], type=pa.int32()),
            take(_COUNTRIES, cols["country"]),
            take(_PLATFORMS, cols["platform"]),
            take(_SOURCES, cols["source"]),
            pa.array(cols["saved"][rows]),
            pa.array(cols["skipped"][rows]),
        ],
        schema=EVENT_SCHEMA,
    )


def _write(root: Path, arrival_day: int, name: str, table: pa.Table, start: dt.date) -> int:
    """Write one batch atomically (temp name, then rename) into its arrival-day partition."""
    folder = root / f"date={start + dt.timedelta(days=arrival_day)}"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{name}"
    pq.write_table(table, tmp, **_WRITE_OPTIONS)
    os.replace(tmp, folder / name)
    return (folder / name).stat().st_size


def _day_index(dates: pl.Series, start: dt.date) -> np.ndarray:
    """Dates as day numbers relative to the window's first day (negative before it)."""
    epoch_days = dates.cast(pl.Int32).to_numpy().astype(np.int32)
    return epoch_days - np.int32((start - dt.date(1970, 1, 1)).days)


def _epoch_ms(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days * DAY_MS


__all__ = [
    "EVENTS_PATH",
    "EVENT_SCHEMA",
    "LATENESS_WINDOW_DAYS",
    "SOURCES",
    "EventsSummary",
    "WorldTables",
    "build_world",
    "events_root",
    "generate_events",
    "simulate_day",
]
