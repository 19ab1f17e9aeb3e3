"""Streaming-fraud detection: which plays of one play day must not be paid or charted, and why.

Detection runs per PLAY day ``D`` (like ``listening_events``). It judges only the
plays of ``D``; the plays of a trailing history window (``D - history_days ..
D - 1``, whatever exists) only feed the baselines the geographic-spike rule
compares against. Five rules, each a behaviour a real anti-fraud team screens for,
each with a stable reason code:

* ``LOOPING`` - one account playing one track over and over: at least
  ``looper_min_repeats`` plays of a single track in the day, making up at least
  ``looper_min_share`` of the account's plays, never skipped (skip rate at most
  ``looper_max_skip_rate``) or repeated so often (``looper_certain_repeats``)
  that no person does it, skips or not;
* ``IMPLAUSIBLE_LISTENING_TIME`` - more than ``max_daily_hours`` of listening
  (sum of ``ms_played``) in one UTC day: nobody awake and human does that;
* ``MACHINE_REGULAR`` - at least ``machine_min_plays`` plays, (almost) never
  skipped, started at intervals so regular that most of them are within
  ``machine_tolerance_ms`` of the median interval: a script, not a person;
* ``FARM`` - a cohort of at least ``farm_min_accounts`` accounts registered
  together (same country and platform, sign-up dates within
  ``farm_signup_window_days`` of each other) that play the same few tracks
  (cosine similarity of their play counts per track at least
  ``farm_min_similarity``) and (almost) never skip;
* ``GEO_SPIKE`` - a track suddenly streamed from one country far above what
  that country usually plays of it (median of its daily plays over the history
  window), after allowing for the track's trend everywhere else (a new release
  or a global hit rises in every country at once, a bought campaign in one),
  and driven by several accounts that each replay it heavily. It is judged on
  the plays the four account rules left, so a surge a farm or a looper already
  explains does not drag the track's ordinary fans in.

Every rule is account-level: a flagged account has ALL its plays of the day
flagged (a script's "camouflage" plays are as fake as its target plays), and
each play carries all its account's reasons (``reasons``) and the first of them
in :data:`REASON_PRIORITY` (``reason``).

Outputs (:class:`FraudDetection`), all with fixed Arrow schemas and sorted so the
same input always gives the same bytes:

* ``flags`` - one row per flagged play: ``event_id, user_id, track_id,
  started_at, reason, reasons``; the analytics layer anti-joins on ``event_id``
  to keep fraud out of streams, charts and royalties;
* ``accounts`` - per flagged account: reasons, flagged plays and ms, and the
  evidence as a JSON string;
* ``tracks`` - per track with flagged plays: reasons, flagged plays, accounts,
  and the evidence (spike country and baselines, flagged share) as JSON.

The module is pure logic (no Dagster); :func:`read_day_inputs` and
:func:`publish_detection` are the lake I/O a thin asset needs. Reading goes
through DuckDB over ``Lake.duckdb_glob`` so it works on a folder and on S3.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.event_loading import EVENTS_TABLE, events_prefix, publish_tables, published_days, write_parquet_file

if TYPE_CHECKING:
    import duckdb

    from pipelines.lake import Lake

__all__ = [
    "ACCOUNTS_SCHEMA",
    "FLAGS_SCHEMA",
    "FLAGS_TABLE",
    "REASON_PRIORITY",
    "as_polars",
    "detect_inputs",
    "REPORT_TABLE",
    "TRACKS_SCHEMA",
    "FraudDetection",
    "FraudInputError",
    "FraudInputs",
    "FraudRules",
    "Reason",
    "daily_track_country_plays",
    "detect_fraud",
    "flags_prefix",
    "publish_detection",
    "read_day_inputs",
    "report_prefix",
    "write_detection",
]

FLAGS_TABLE = "fraud_flags"
REPORT_TABLE = "fraud_report"
USERS_PATH = "landing/users/users.parquet"
TRACKS_PATH = "reference/catalog/tracks.parquet"
ARTISTS_PATH = "reference/catalog/artists.parquet"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class Reason:
    """Reason codes of flagged plays (stable strings: dashboards and the dbt layer group by them)."""

    LOOPING = "LOOPING"
    IMPLAUSIBLE_LISTENING_TIME = "IMPLAUSIBLE_LISTENING_TIME"
    MACHINE_REGULAR = "MACHINE_REGULAR"
    FARM = "FARM"
    GEO_SPIKE = "GEO_SPIKE"


REASON_PRIORITY: tuple[str, ...] = (
    Reason.LOOPING,
    Reason.IMPLAUSIBLE_LISTENING_TIME,
    Reason.MACHINE_REGULAR,
    Reason.FARM,
    Reason.GEO_SPIKE,
)
"""Which of a play's reasons is its primary ``reason`` (first listed wins)."""


@dataclass(frozen=True)
class FraudRules:
    """Thresholds of the five rules; each default is chosen so an honest listener never reaches it.

    Honest listening on the platform tops out at a few hours and ~160 plays a
    day, always includes some skips (every honest play has a few percent
    chance of one) and has irregular gaps (tracks of different lengths, pauses,
    sessions). Bots show their hand on at least one of those axes by a wide
    margin; the thresholds sit in that margin, not at the edge of honest
    behaviour.
    """

    history_days: int = 27
    """Days before the play day read for baselines (with the day itself: a four-week window)."""

    # LOOPING
    looper_min_repeats: int = 100
    """Plays of ONE track in a day: over an hour of a 40 s loop, or 5-6 hours of a 3-minute song,
    on repeat. Heavy fans replay a favourite a few dozen times; the rare one who goes on all day
    still skips (below)..."""
    looper_min_share: float = 0.9
    """...making up at least this share of the account's plays: a fan also listens to other things,
    a loop bot does nothing else..."""
    looper_max_skip_rate: float = 0.02
    """...and never skipping (a skipped play is not a paid stream, so a loop script never skips;
    an obsessed fan with a song on repeat still skips a few percent)..."""
    looper_certain_repeats: int = 300
    """...unless the repeats alone are beyond any person: 300 plays of one track is 2.5 hours of
    30-second loops or 15 hours of a 3-minute song; honest days stop at ~160 plays in all."""

    # IMPLAUSIBLE_LISTENING_TIME
    max_daily_hours: float = 16.0
    """Listening time (sum of ms_played) in one UTC day above which nobody is a person: it leaves
    under 8 hours for sleep and life. From the setting ``fraud_max_daily_hours``."""

    # MACHINE_REGULAR
    machine_min_plays: int = 20
    """Plays needed before interval regularity means anything (19 intervals)."""
    machine_max_skip_rate: float = 0.02
    """Skip rate at most this (near zero): people skip several percent of what they hear."""
    machine_tolerance_ms: int = 250
    """An interval counts as regular within this distance of the account's median interval. Human
    gaps vary by seconds (track lengths, the time to pick the next one); a scheduler's by
    milliseconds of network jitter."""
    machine_min_regular_share: float = 0.8
    """Share of an account's intervals that must be regular. Honest listeners score ~0.1-0.2."""

    # FARM
    farm_min_accounts: int = 5
    """Smallest cohort called a farm: below that a coincidence among friends is plausible."""
    farm_min_plays: int = 20
    """Plays in the day for an account to take part in a cohort (farms exist to stream a lot)."""
    farm_signup_window_days: int = 3
    """Accounts registered within this many days of each other count as created together."""
    farm_min_similarity: float = 0.7
    """Cosine similarity of two accounts' per-track play counts for them to count as streaming
    'the same few tracks'. Honest listeners of one country share tastes, not play vectors."""
    farm_max_skip_rate: float = 0.02
    """The cohort's median skip rate must be at most this: farm scripts never skip."""

    # GEO_SPIKE
    geo_min_plays: int = 30
    """Plays of the track from the country on the day: smaller bumps are noise, not a campaign."""
    geo_min_ratio: float = 10.0
    """Day plays at least this multiple of the expected plays. Expected = (the country's history
    median + geo_pseudo_plays) x the track's trend elsewhere (today's plays in all other
    countries over their history median, at least 1). Weekly seasonality, a playlist feature or
    a release moves a country's plays by a factor 2-3; bought campaigns by 10-100+."""
    geo_history_quantile: float = 0.5
    """The country's usual level is this quantile of its daily plays of the track over the history
    (days without plays count as 0): the median. Unlike the mean it ignores a past spike day, as
    long as the history is more than twice as long as the campaign so far; lower quantiles hit
    honest listening on the sample worlds (0.25 already), higher ones let spikes hide."""
    geo_pseudo_plays: float = 1.0
    """Added to every baseline (one play a day), so a track never heard in a country is compared
    with one play, not zero, and a track new everywhere gets a trend, not a division by zero."""
    geo_min_history_days: int = 1
    """Days of history needed before the rule speaks ("sudden" needs a before); on the first day
    of data it is silent and says so in the notes. One day is enough: the median over few days
    is rough, but the trend and the heavy-account test below keep honest listening clear."""
    geo_min_accounts: int = 3
    """Accounts that must each replay the track heavily for the spike to be fraud and not a viral
    moment (which many accounts share lightly); they are the accounts flagged."""
    geo_min_account_plays: int = 5
    """Plays of the spiking track by one account in the day to count as heavy replaying..."""
    geo_min_account_share: float = 0.25
    """...making up at least this share of the account's plays that day."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"FraudRules.{f.name} must be a non-negative number, got {value!r}"
                )
        for name in (
            "looper_min_share",
            "looper_max_skip_rate",
            "machine_max_skip_rate",
            "machine_min_regular_share",
            "farm_min_similarity",
            "farm_max_skip_rate",
            "geo_min_account_share",
            "geo_history_quantile",
        ):
            if getattr(self, name) > 1:
                raise ValueError(
                    f"FraudRules.{name} is a share: at most 1, got {getattr(self, name)!r}"
                )
        if not 0 < self.max_daily_hours <= 24:
            raise ValueError(
                f"FraudRules.max_daily_hours must be in (0, 24], got {self.max_daily_hours!r}"
            )

    def to_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ----------------------------------------------------------------------------- schemas

_TS = pa.timestamp("ms", tz="UTC")

FLAGS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("started_at", _TS, nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("reasons", pa.string(), nullable=False),
    ]
)
"""One row per flagged play; ``reasons`` is every reason code, sorted and comma-joined."""

ACCOUNTS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("reasons", pa.string(), nullable=False),
        pa.field("flagged_plays", pa.int64(), nullable=False),
        pa.field("flagged_ms", pa.int64(), nullable=False),
        pa.field("evidence", pa.string(), nullable=False),
    ]
)
"""One row per flagged account of the day; ``evidence`` is a JSON object (keys sorted)."""

TRACKS_SCHEMA = pa.schema(
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("reasons", pa.string(), nullable=False),
        pa.field("flagged_plays", pa.int64(), nullable=False),
        pa.field("accounts", pa.int64(), nullable=False),
        pa.field("evidence", pa.string(), nullable=False),
    ]
)
"""One row per track with flagged plays that day; ``evidence`` is a JSON object (keys sorted)."""

_EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "track_id",
    "started_at",
    "ms_played",
    "country",
    "platform",
    "skipped",
)
_BASELINE_SCHEMA = {
    "play_date": pl.Date,
    "track_id": pl.String,
    "country": pl.String,
    "plays": pl.Int64,
}


class FraudInputError(RuntimeError):
    """The day cannot be screened: its events are not in the lake, or an input lacks a column."""


@dataclass(frozen=True)
class FraudDetection:
    """What one play day's screening found (see the module docstring for the tables)."""

    day: dt.date
    flags: pa.Table
    accounts: pa.Table
    tracks: pa.Table
    plays: int = 0
    """Plays of the day screened."""
    notes: tuple[str, ...] = ()
    """Rules that could not run fully (e.g. too little history for GEO_SPIKE)."""

    def summary(self) -> dict[str, Any]:
        """Counts for run logs and asset metadata: flagged plays/accounts/tracks, by primary reason."""
        by_reason = {r: 0 for r in REASON_PRIORITY}
        for r in self.flags.column("reason").to_pylist():
            by_reason[r] += 1
        accounts_by_reason = {r: 0 for r in REASON_PRIORITY}
        for joined in self.accounts.column("reasons").to_pylist():
            for r in joined.split(","):
                accounts_by_reason[r] += 1
        return {
            "day": self.day.isoformat(),
            "plays": self.plays,
            "flagged_plays": self.flags.num_rows,
            "flagged_accounts": self.accounts.num_rows,
            "flagged_tracks": self.tracks.num_rows,
            "flagged_plays_by_reason": by_reason,
            "accounts_by_reason": accounts_by_reason,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class FraudInputs:
    """What :func:`detect_fraud` needs for one day, as read from the lake."""

    day: dt.date
    events: pl.DataFrame
    baseline: pl.DataFrame
    users: pl.DataFrame
    tracks: pl.DataFrame
    artists: pl.DataFrame
    history_days: tuple[dt.date, ...] = field(default=())


# ----------------------------------------------------------------------------- detection


def detect_fraud(
    day: dt.date,
    events: pl.DataFrame | pa.Table,
    users: pl.DataFrame | pa.Table | None = None,
    tracks: pl.DataFrame | pa.Table | None = None,
    artists: pl.DataFrame | pa.Table | None = None,
    rules: FraudRules | None = None,
    *,
    baseline: pl.DataFrame | pa.Table | None = None,
) -> FraudDetection:
    """Screen the plays of ``day`` and return the flags, the account and the track reports.

    ``events`` holds the day's plays (``EVENT_SCHEMA`` columns; only event_id,
    user_id, track_id, started_at, ms_played, country, platform and skipped are
    used) and may also hold earlier plays of the history window, which then feed
    the baselines. Alternatively ``baseline`` gives those baselines directly, as
    plays per (play_date, track_id, country) (see :func:`daily_track_country_plays`);
    then rows of other days in ``events`` are ignored. ``users`` (user_id,
    country, platform, signup_date), ``tracks`` (track_id, artist_id) and
    ``artists`` (artist_id, country) add registration data (FARM needs it:
    without users it finds no cohorts, and says so in ``notes``) and the
    artist's home country (evidence for reviewers only). Deterministic: same
    inputs, same tables, whatever the row order.
    """
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise FraudInputError(f"day must be a datetime.date, got {type(day).__name__}")
    rules = rules or FraudRules()
    window = _events_frame(events)
    day_col = pl.col("started_at").dt.date()
    today = window.filter(day_col == day).sort("user_id", "started_at", "event_id")
    if baseline is None:
        first = day - dt.timedelta(days=rules.history_days)
        baseline_df = daily_track_country_plays(
            window.filter(day_col.is_between(first, day, closed="left"))
        )
    else:
        baseline_df = as_polars(baseline).select(
            pl.col(c).cast(t) for c, t in _BASELINE_SCHEMA.items()
        )
    users_df = _users_frame(users)
    artist_country = _artist_country(tracks, artists)

    stats = _account_stats(today, rules)
    notes: list[str] = []
    hits: list[pl.DataFrame] = []  # (user_id, reason) pairs
    hits.append(
        stats.filter(
            (pl.col("top_plays") >= rules.looper_min_repeats)
            & (pl.col("top_share") >= rules.looper_min_share)
            & (
                (pl.col("skip_rate") <= rules.looper_max_skip_rate)
                | (pl.col("top_plays") >= rules.looper_certain_repeats)
            )
        ).select("user_id", pl.lit(Reason.LOOPING).alias("reason"))
    )
    hits.append(
        stats.filter(pl.col("listen_ms") > rules.max_daily_hours * HOUR_MS).select(
            "user_id", pl.lit(Reason.IMPLAUSIBLE_LISTENING_TIME).alias("reason")
        )
    )
    hits.append(
        stats.filter(
            (pl.col("plays") >= rules.machine_min_plays)
            & (pl.col("skip_rate") <= rules.machine_max_skip_rate)
            & (pl.col("regular_share") >= rules.machine_min_regular_share)
        ).select("user_id", pl.lit(Reason.MACHINE_REGULAR).alias("reason"))
    )
    farm_members = _farms(day, today, stats, users_df, rules)
    if users is None:
        notes.append("FARM not evaluated: no registration data (users) given")
    hits.append(farm_members.select("user_id", pl.lit(Reason.FARM).alias("reason")))
    # A spike is judged on the plays the account rules left: a surge that a looper, a
    # 20-hour listener or a farm already explains must not indict the ordinary fans of
    # the track who happened to listen that day.
    explained = pl.concat(hits).select("user_id").unique()
    residual = today.join(explained, on="user_id", how="anti")
    spikes, spike_accounts, note = _geo_spikes(day, residual, baseline_df, artist_country, rules)
    if note:
        notes.append(note)
    hits.append(spike_accounts.select("user_id", pl.lit(Reason.GEO_SPIKE).alias("reason")).unique())

    account_reasons = _combine_reasons(pl.concat(hits))
    flags = _flags(today, account_reasons)
    accounts = _accounts_report(
        flags, today, stats, account_reasons, users_df, farm_members, spike_accounts
    )
    tracks_report = _tracks_report(flags, today, spikes)
    return FraudDetection(
        day=day,
        flags=_to_arrow(flags, FLAGS_SCHEMA),
        accounts=_to_arrow(accounts, ACCOUNTS_SCHEMA),
        tracks=_to_arrow(tracks_report, TRACKS_SCHEMA),
        plays=today.height,
        notes=tuple(notes),
    )


def daily_track_country_plays(events: pl.DataFrame | pa.Table) -> pl.DataFrame:
    """Plays per (play_date, track_id, country): the baseline the GEO_SPIKE rule reads."""
    df = as_polars(events)
    if df.height == 0:
        return pl.DataFrame(schema=_BASELINE_SCHEMA)
    return (
        df.group_by(pl.col("started_at").dt.date().alias("play_date"), "track_id", "country")
        .agg(pl.len().cast(pl.Int64).alias("plays"))
        .sort("play_date", "track_id", "country")
    )


def as_polars(data: pl.DataFrame | pa.Table) -> pl.DataFrame:
    """A polars frame of either input (Arrow tables come from the lake, frames from tests)."""
    if isinstance(data, pl.DataFrame):
        return data
    out = pl.from_arrow(data)
    assert isinstance(out, pl.DataFrame)
    return out


def _events_frame(events: pl.DataFrame | pa.Table) -> pl.DataFrame:
    df = as_polars(events)
    missing = [c for c in _EVENT_COLUMNS if c not in df.columns]
    if missing:
        raise FraudInputError(f"events lack column(s) {missing}")
    return df.select(
        pl.col("event_id").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("track_id").cast(pl.String),
        pl.col("started_at").cast(pl.Datetime("ms", "UTC")),
        pl.col("ms_played").cast(pl.Int64),
        pl.col("country").cast(pl.String),
        pl.col("platform").cast(pl.String),
        pl.col("skipped").cast(pl.Boolean),
    )


def _users_frame(users: pl.DataFrame | pa.Table | None) -> pl.DataFrame:
    schema = {
        "user_id": pl.String,
        "home_country": pl.String,
        "home_platform": pl.String,
        "signup_date": pl.Date,
    }
    if users is None:
        return pl.DataFrame(schema=schema)
    df = as_polars(users)
    missing = [c for c in ("user_id", "country", "platform", "signup_date") if c not in df.columns]
    if missing:
        raise FraudInputError(f"users lack column(s) {missing}")
    return df.select(
        pl.col("user_id").cast(pl.String),
        pl.col("country").cast(pl.String).alias("home_country"),
        pl.col("platform").cast(pl.String).alias("home_platform"),
        pl.col("signup_date").cast(pl.Date),
    ).unique("user_id", keep="first", maintain_order=True)


def _artist_country(
    tracks: pl.DataFrame | pa.Table | None, artists: pl.DataFrame | pa.Table | None
) -> pl.DataFrame:
    """track_id -> artist_id, artist_country (the artist's home market)."""
    schema = {"track_id": pl.String, "artist_id": pl.String, "artist_country": pl.String}
    if tracks is None:
        return pl.DataFrame(schema=schema)
    t = as_polars(tracks).select(
        pl.col("track_id").cast(pl.String), pl.col("artist_id").cast(pl.String)
    )
    if artists is None:
        return t.with_columns(pl.lit(None, pl.String).alias("artist_country"))
    a = (
        as_polars(artists)
        .select(
            pl.col("artist_id").cast(pl.String),
            pl.col("country").cast(pl.String).alias("artist_country"),
        )
        .unique("artist_id", keep="first", maintain_order=True)
    )
    return t.unique("track_id", keep="first", maintain_order=True).join(
        a, on="artist_id", how="left"
    )


def _account_stats(today: pl.DataFrame, rules: FraudRules) -> pl.DataFrame:
    """One row per account active on the day, with everything the account rules and reports use."""
    epoch = pl.col("started_at").dt.epoch("ms")
    with_gaps = today.with_columns(gap=(epoch - epoch.shift(1)).over("user_id"))
    medians = with_gaps.group_by("user_id").agg(gap_median=pl.col("gap").median())
    regular = (
        with_gaps.join(medians, on="user_id", how="left")
        .group_by("user_id")
        .agg(
            n_gaps=pl.col("gap").count(),
            regular=(
                (pl.col("gap") - pl.col("gap_median")).abs() <= rules.machine_tolerance_ms
            ).sum(),
            gap_median=pl.col("gap_median").first(),
        )
    )
    per_track = (
        today.group_by("user_id", "track_id")
        .agg(n=pl.len())
        .sort(["user_id", "n", "track_id"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .agg(top_track=pl.col("track_id").first(), top_plays=pl.col("n").first(), tracks=pl.len())
    )
    per_country = (
        today.group_by("user_id", "country")
        .agg(n=pl.len())
        .sort(["user_id", "n", "country"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .agg(play_country=pl.col("country").first(), countries=pl.len())
    )
    per_platform = (
        today.group_by("user_id", "platform")
        .agg(n=pl.len())
        .sort(["user_id", "n", "platform"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .agg(play_platform=pl.col("platform").first())
    )
    base = today.group_by("user_id").agg(
        plays=pl.len(),
        listen_ms=pl.col("ms_played").sum(),
        skips=pl.col("skipped").sum(),
        first_ms=epoch.min(),
        last_ms=epoch.max(),
    )
    return (
        base.join(per_track, on="user_id")
        .join(per_country, on="user_id")
        .join(per_platform, on="user_id")
        .join(regular, on="user_id")
        .with_columns(
            top_share=pl.col("top_plays") / pl.col("plays"),
            skip_rate=pl.col("skips") / pl.col("plays"),
            regular_share=pl.when(pl.col("n_gaps") > 0)
            .then(pl.col("regular") / pl.col("n_gaps"))
            .otherwise(0.0),
        )
        .sort("user_id")
    )


def _farms(
    day: dt.date, today: pl.DataFrame, stats: pl.DataFrame, users: pl.DataFrame, rules: FraudRules
) -> pl.DataFrame:
    """Members of farm cohorts, one row per account, with the cohort's evidence as a JSON string.

    Accounts are linked when they share registered country and platform, signed
    up within ``farm_signup_window_days`` of each other and have per-track play
    vectors with cosine similarity >= ``farm_min_similarity``; a cohort is a
    connected component of those links. Accounts without registration data
    (unknown user, no sign-up date) are never linked.
    """
    out_schema = {"user_id": pl.String, "cohort": pl.String, "farm_evidence": pl.String}
    cand = (
        stats.filter(pl.col("plays") >= rules.farm_min_plays)
        .select("user_id", "skip_rate")
        .join(users, on="user_id", how="inner")
        .filter(pl.col("signup_date").is_not_null())
    )
    if cand.height < max(rules.farm_min_accounts, 2):
        return pl.DataFrame(schema=out_schema)
    vec = (
        today.join(
            cand.select("user_id", "home_country", "home_platform", "signup_date"), on="user_id"
        )
        .group_by("user_id", "home_country", "home_platform", "signup_date", "track_id")
        .agg(n=pl.len().cast(pl.Float64))
    )
    norms = vec.group_by("user_id").agg(norm=(pl.col("n") ** 2).sum().sqrt())
    left = vec.rename({"user_id": "a", "n": "na", "signup_date": "sa"})
    right = vec.rename({"user_id": "b", "n": "nb", "signup_date": "sb"})
    pairs = (
        left.join(right, on=["home_country", "home_platform", "track_id"])
        .filter(
            (pl.col("a") < pl.col("b"))
            & ((pl.col("sa") - pl.col("sb")).dt.total_days().abs() <= rules.farm_signup_window_days)
        )
        .group_by("a", "b")
        .agg(dot=(pl.col("na") * pl.col("nb")).sum())
        .join(norms.rename({"user_id": "a", "norm": "norm_a"}), on="a")
        .join(norms.rename({"user_id": "b", "norm": "norm_b"}), on="b")
        .with_columns(similarity=pl.col("dot") / (pl.col("norm_a") * pl.col("norm_b")))
        .filter(pl.col("similarity") >= rules.farm_min_similarity)
        .select("a", "b", "similarity")
        .sort("a", "b")
    )
    if pairs.height == 0:
        return pl.DataFrame(schema=out_schema)
    info = {r["user_id"]: r for r in cand.iter_rows(named=True)}
    rows = []
    for members in _components(zip(pairs["a"].to_list(), pairs["b"].to_list(), strict=True)):
        if len(members) < rules.farm_min_accounts:
            continue
        median_skip = _median(sorted(info[m]["skip_rate"] for m in members))
        if median_skip > rules.farm_max_skip_rate:
            continue
        inside = pairs.filter(pl.col("a").is_in(members))
        top = (
            vec.filter(pl.col("user_id").is_in(members))
            .group_by("track_id")
            .agg(plays=pl.col("n").sum().cast(pl.Int64))
            .sort(["plays", "track_id"], descending=[True, False])
        )
        signups = sorted(info[m]["signup_date"] for m in members)
        evidence = {
            "cohort": f"farm-{day:%Y%m%d}-{members[0]}",
            "size": len(members),
            "country": info[members[0]]["home_country"],
            "platform": info[members[0]]["home_platform"],
            "signups_from": signups[0].isoformat(),
            "signups_to": signups[-1].isoformat(),
            "links": inside.height,
            "min_link_similarity": _round(float(inside["similarity"].min())),
            "median_skip_rate": _round(median_skip),
            "cohort_plays": int(top["plays"].sum()),
            "top_tracks": dict(
                zip(top["track_id"].head(5).to_list(), top["plays"].head(5).to_list(), strict=True)
            ),
        }
        text = json.dumps(evidence, sort_keys=True, separators=(",", ":"))
        rows += [(m, evidence["cohort"], text) for m in members]
    return pl.DataFrame(rows, schema=out_schema, orient="row")


def _components(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of an undirected graph, each sorted, in order of their first member."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for node in sorted(parent):
        groups.setdefault(find(node), []).append(node)
    return sorted(groups.values(), key=lambda g: g[0])


def _median(sorted_values: Sequence[float]) -> float:
    return _quantile(sorted_values, 0.5)


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolating linearly (numpy's default method)."""
    if not sorted_values:
        return 0.0
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def _geo_spikes(
    day: dt.date,
    today: pl.DataFrame,
    baseline: pl.DataFrame,
    artist_country: pl.DataFrame,
    rules: FraudRules,
) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """Spiking (track, country) pairs with their evidence, the accounts driving them, and a note."""
    spike_schema = {
        "track_id": pl.String,
        "country": pl.String,
        "plays": pl.Int64,
        "accounts": pl.Int64,
        "history_median": pl.Float64,
        "elsewhere_plays": pl.Int64,
        "elsewhere_history_median": pl.Float64,
        "trend_elsewhere": pl.Float64,
        "expected": pl.Float64,
        "ratio": pl.Float64,
        "history_days": pl.Int64,
        "artist_country": pl.String,
    }
    account_schema = {
        "user_id": pl.String,
        "track_id": pl.String,
        "country": pl.String,
        "track_plays": pl.Int64,
    }
    first = day - dt.timedelta(days=rules.history_days)
    history = baseline.filter(pl.col("play_date").is_between(first, day, closed="left"))
    history_days = history["play_date"].n_unique()
    if history_days < rules.geo_min_history_days:
        note = (
            f"GEO_SPIKE not evaluated: {history_days} day(s) of history before {day}, "
            f"needs {rules.geo_min_history_days}"
        )
        return pl.DataFrame(schema=spike_schema), pl.DataFrame(schema=account_schema), note
    counts = today.group_by("track_id", "country").agg(plays=pl.len().cast(pl.Int64))
    by_track = counts.group_by("track_id").agg(track_plays=pl.col("plays").sum())
    cand = counts.filter(pl.col("plays") >= rules.geo_min_plays).join(by_track, on="track_id")
    # Daily history of each candidate (track, country) and of the same track in all other
    # countries; medians over ALL history days, days without plays counting as 0.
    keys = cand.select("track_id", "country")
    here = history.join(keys, on=["track_id", "country"]).select(
        "track_id", "country", "play_date", "plays"
    )
    daily = (
        history.join(keys.select("track_id").unique(), on="track_id")
        .group_by("track_id", "play_date")
        .agg(total=pl.col("plays").sum())
        .join(keys, on="track_id")
        .join(here, on=["track_id", "country", "play_date"], how="left")
        .with_columns(pl.col("plays").fill_null(0))
        .group_by("track_id", "country")
        .agg(pl.col("plays").alias("here"), (pl.col("total") - pl.col("plays")).alias("elsewhere"))
    )
    pad = [0] * history_days
    medians = [
        (
            r["track_id"],
            r["country"],
            _quantile(sorted(pad[len(r["here"]) :] + r["here"]), rules.geo_history_quantile),
            _quantile(
                sorted(pad[len(r["elsewhere"]) :] + r["elsewhere"]), rules.geo_history_quantile
            ),
        )
        for r in daily.iter_rows(named=True)
    ]
    hist = pl.DataFrame(
        medians,
        schema={
            "track_id": pl.String,
            "country": pl.String,
            "history_median": pl.Float64,
            "elsewhere_history_median": pl.Float64,
        },
        orient="row",
    )
    k = rules.geo_pseudo_plays
    cand = (
        cand.join(hist, on=["track_id", "country"], how="left")
        .join(artist_country.select("track_id", "artist_country"), on="track_id", how="left")
        .with_columns(
            pl.col("history_median").fill_null(0.0),
            pl.col("elsewhere_history_median").fill_null(0.0),
            elsewhere_plays=pl.col("track_plays") - pl.col("plays"),
        )
        .with_columns(
            trend_elsewhere=pl.max_horizontal(
                pl.lit(1.0),
                (pl.col("elsewhere_plays") + k) / (pl.col("elsewhere_history_median") + k),
            )
        )
        .with_columns(expected=(pl.col("history_median") + k) * pl.col("trend_elsewhere"))
        .with_columns(ratio=pl.col("plays") / pl.col("expected"))
        .filter(pl.col("ratio") >= rules.geo_min_ratio)
    )
    if cand.height == 0:
        return pl.DataFrame(schema=spike_schema), pl.DataFrame(schema=account_schema), None
    user_plays = today.group_by("user_id").agg(user_plays=pl.len())
    heavy = (
        today.join(cand.select("track_id", "country"), on=["track_id", "country"])
        .group_by("user_id", "track_id", "country")
        .agg(track_plays=pl.len().cast(pl.Int64))
        .join(user_plays, on="user_id")
        .filter(
            (pl.col("track_plays") >= rules.geo_min_account_plays)
            & (pl.col("track_plays") >= rules.geo_min_account_share * pl.col("user_plays"))
        )
    )
    n_heavy = heavy.group_by("track_id", "country").agg(accounts=pl.len().cast(pl.Int64))
    spikes = (
        cand.join(n_heavy, on=["track_id", "country"])
        .filter(pl.col("accounts") >= rules.geo_min_accounts)
        .with_columns(pl.lit(history_days, pl.Int64).alias("history_days"))
        .select(list(spike_schema))
        .sort("track_id", "country")
    )
    accounts = (
        heavy.join(spikes.select("track_id", "country"), on=["track_id", "country"])
        .select(list(account_schema))
        .sort("user_id", "track_id", "country")
    )
    return spikes, accounts, None


def _combine_reasons(hits: pl.DataFrame) -> pl.DataFrame:
    """(user_id, reason) pairs -> one row per account: primary reason and sorted joined reasons."""
    rank = {r: i for i, r in enumerate(REASON_PRIORITY)}
    return (
        hits.unique()
        .with_columns(rank=pl.col("reason").replace_strict(rank, return_dtype=pl.Int32))
        .group_by("user_id")
        .agg(
            reason=pl.col("reason").sort_by("rank").first(),
            reasons=pl.col("reason").sort().str.join(","),
        )
        .sort("user_id")
    )


def _flags(today: pl.DataFrame, account_reasons: pl.DataFrame) -> pl.DataFrame:
    return (
        today.join(account_reasons, on="user_id", how="inner")
        .select(
            "event_id",
            "user_id",
            "track_id",
            "started_at",
            "reason",
            "reasons",
            "ms_played",
            "country",
        )
        .sort("started_at", "event_id")
    )


def _round(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    return value


def _accounts_report(
    flags: pl.DataFrame,
    today: pl.DataFrame,
    stats: pl.DataFrame,
    account_reasons: pl.DataFrame,
    users: pl.DataFrame,
    farm_members: pl.DataFrame,
    spike_accounts: pl.DataFrame,
) -> pl.DataFrame:
    if account_reasons.height == 0:
        return pl.DataFrame(
            schema=dict(
                zip(
                    ACCOUNTS_SCHEMA.names,
                    [pl.String] * 3 + [pl.Int64] * 2 + [pl.String],
                    strict=True,
                )
            )
        )
    flagged = flags.group_by("user_id").agg(
        flagged_plays=pl.len().cast(pl.Int64), flagged_ms=pl.col("ms_played").sum().cast(pl.Int64)
    )
    info = (
        account_reasons.join(flagged, on="user_id")
        .join(stats, on="user_id")
        .join(users, on="user_id", how="left")
        .join(farm_members, on="user_id", how="left")
        .sort("user_id")
    )
    spikes_by_user: dict[str, list[dict[str, Any]]] = {}
    for row in spike_accounts.iter_rows(named=True):
        spikes_by_user.setdefault(row["user_id"], []).append(
            {
                "track_id": row["track_id"],
                "country": row["country"],
                "track_plays": row["track_plays"],
            }
        )
    evidence = []
    for r in info.iter_rows(named=True):
        e: dict[str, Any] = {
            "plays": r["plays"],
            "listening_hours": _round(r["listen_ms"] / HOUR_MS, 3),
            "first_play": _iso_ms(r["first_ms"]),
            "last_play": _iso_ms(r["last_ms"]),
            "distinct_tracks": r["tracks"],
            "top_track_id": r["top_track"],
            "top_track_plays": r["top_plays"],
            "top_track_share": _round(r["top_share"]),
            "skip_rate": _round(r["skip_rate"]),
            "interval_median_s": None
            if r["gap_median"] is None
            else _round(r["gap_median"] / 1000, 3),
            "interval_regular_share": _round(r["regular_share"]),
            "play_country": r["play_country"],
            "countries": r["countries"],
            "home_country": r["home_country"],
            "platform": r["home_platform"] or r["play_platform"],
            "signup_date": None if r["signup_date"] is None else r["signup_date"].isoformat(),
        }
        if r["farm_evidence"] is not None:
            e["farm"] = json.loads(r["farm_evidence"])
        if r["user_id"] in spikes_by_user:
            e["geo_spike"] = spikes_by_user[r["user_id"]]
        evidence.append(json.dumps(e, sort_keys=True, separators=(",", ":")))
    return info.select(
        "user_id",
        "reason",
        "reasons",
        "flagged_plays",
        "flagged_ms",
        pl.Series("evidence", evidence, pl.String),
    )


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _tracks_report(flags: pl.DataFrame, today: pl.DataFrame, spikes: pl.DataFrame) -> pl.DataFrame:
    if flags.height == 0:
        return pl.DataFrame(
            schema=dict(
                zip(
                    TRACKS_SCHEMA.names, [pl.String] * 3 + [pl.Int64] * 2 + [pl.String], strict=True
                )
            )
        )
    rank = {r: i for i, r in enumerate(REASON_PRIORITY)}
    exploded = flags.select(
        "track_id", "user_id", pl.col("reasons").str.split(",").alias("r")
    ).explode("r")
    reasons = exploded.group_by("track_id").agg(
        reasons=pl.col("r").unique().sort().str.join(","),
        reason=pl.col("r").sort_by(pl.col("r").replace_strict(rank, return_dtype=pl.Int32)).first(),
    )
    by_reason = flags.group_by("track_id", "reason").agg(n=pl.len()).sort("track_id", "reason")
    by_reason_map: dict[str, dict[str, int]] = {}
    for row in by_reason.iter_rows(named=True):
        by_reason_map.setdefault(row["track_id"], {})[row["reason"]] = row["n"]
    countries = (
        flags.group_by("track_id", "country")
        .agg(n=pl.len())
        .sort(["track_id", "n", "country"], descending=[False, True, False])
    )
    country_map: dict[str, dict[str, int]] = {}
    for row in countries.iter_rows(named=True):
        country_map.setdefault(row["track_id"], {})[row["country"]] = row["n"]
    spike_map: dict[str, list[dict[str, Any]]] = {}
    for row in spikes.iter_rows(named=True):
        spike_map.setdefault(row["track_id"], []).append(
            {
                "country": row["country"],
                "plays": row["plays"],
                "heavy_accounts": row["accounts"],
                "history_median": _round(row["history_median"], 2),
                "elsewhere_plays": row["elsewhere_plays"],
                "elsewhere_history_median": _round(row["elsewhere_history_median"], 2),
                "trend_elsewhere": _round(row["trend_elsewhere"], 3),
                "expected": _round(row["expected"], 2),
                "ratio": _round(row["ratio"], 2),
                "history_days": row["history_days"],
                "artist_country": row["artist_country"],
            }
        )
    totals = today.group_by("track_id").agg(day_plays=pl.len())
    info = (
        flags.group_by("track_id")
        .agg(
            flagged_plays=pl.len().cast(pl.Int64),
            accounts=pl.col("user_id").n_unique().cast(pl.Int64),
        )
        .join(reasons, on="track_id")
        .join(totals, on="track_id")
        .sort("track_id")
    )
    evidence = []
    for r in info.iter_rows(named=True):
        e: dict[str, Any] = {
            "day_plays": r["day_plays"],
            "flagged_plays": r["flagged_plays"],
            "flagged_share": _round(r["flagged_plays"] / r["day_plays"]),
            "flagged_accounts": r["accounts"],
            "flagged_plays_by_reason": by_reason_map.get(r["track_id"], {}),
            "flagged_plays_by_country": country_map.get(r["track_id"], {}),
        }
        if r["track_id"] in spike_map:
            e["geo_spike"] = spike_map[r["track_id"]]
        evidence.append(json.dumps(e, sort_keys=True, separators=(",", ":")))
    return info.select(
        "track_id",
        "reason",
        "reasons",
        "flagged_plays",
        "accounts",
        pl.Series("evidence", evidence, pl.String),
    )


def _to_arrow(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame as one-chunk Arrow with exactly ``schema`` (fixed types, plain strings)."""
    table = df.select(schema.names).to_arrow()
    arrays = [
        table.column(name).combine_chunks().cast(schema.field(name).type) for name in schema.names
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


# ----------------------------------------------------------------------------- lake I/O


def flags_prefix(day: dt.date) -> str:
    """Lake prefix of one play day of ``fraud_flags``."""
    return f"{FLAGS_TABLE}/date={day.isoformat()}"


def report_prefix(day: dt.date) -> str:
    """Lake prefix of one play day of ``fraud_report`` (accounts.parquet, tracks.parquet)."""
    return f"{REPORT_TABLE}/date={day.isoformat()}"


def _published_days(lake: Lake, first: dt.date, last: dt.date) -> list[dt.date]:
    return [d for d in published_days(lake, EVENTS_TABLE) if first <= d <= last]


def detect_inputs(inputs: FraudInputs, rules: FraudRules | None = None) -> FraudDetection:
    """:func:`detect_fraud` on what :func:`read_day_inputs` read for one day."""
    return detect_fraud(
        inputs.day, inputs.events, inputs.users, inputs.tracks, inputs.artists, rules, baseline=inputs.baseline
    )


def read_day_inputs(
    lake: Lake,
    day: dt.date,
    rules: FraudRules | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> FraudInputs:
    """Read what screening ``day`` needs: its plays, the history baseline, users and catalog.

    The history (published ``listening_events`` days in ``day - history_days ..
    day - 1``) is aggregated inside DuckDB to plays per (play_date, track_id,
    country), so the window costs one scan and little memory at any size.
    Raises :class:`FraudInputError` if the day itself is not published.
    """
    import duckdb

    rules = rules or FraudRules()
    if not lake.is_published(events_prefix(day)):
        raise FraudInputError(f"{events_prefix(day)} is not published: load the day's events first")
    history = _published_days(
        lake, day - dt.timedelta(days=rules.history_days), day - dt.timedelta(days=1)
    )
    own = con is None
    conn = duckdb.connect() if con is None else con
    try:
        lake.register_with_duckdb(conn)
        cols = ", ".join(_EVENT_COLUMNS)
        day_url = lake.duckdb_glob(f"{events_prefix(day)}/part-00000.parquet")
        events = conn.sql(
            f"SELECT {cols} FROM read_parquet($u)", params={"u": day_url}
        ).to_arrow_table()
        if history:
            urls = [lake.duckdb_glob(f"{events_prefix(d)}/part-00000.parquet") for d in history]
            baseline_table = conn.sql(
                """SELECT CAST(started_at AS DATE) AS play_date, track_id, country, count(*) AS plays
                   FROM read_parquet($u) GROUP BY ALL ORDER BY ALL""",
                params={"u": urls},
            ).to_arrow_table()
            baseline = as_polars(baseline_table).select(
                pl.col(c).cast(t) for c, t in _BASELINE_SCHEMA.items()
            )
        else:
            baseline = pl.DataFrame(schema=_BASELINE_SCHEMA)
    finally:
        if own:
            conn.close()
    return FraudInputs(
        day=day,
        events=_events_frame(events),
        baseline=baseline,
        users=_read_optional(lake, USERS_PATH, ["user_id", "country", "platform", "signup_date"]),
        tracks=_read_optional(lake, TRACKS_PATH, ["track_id", "artist_id"]),
        artists=_read_optional(lake, ARTISTS_PATH, ["artist_id", "country"]),
        history_days=tuple(history),
    )


def _read_optional(lake: Lake, relpath: str, columns: list[str]) -> pl.DataFrame | None:
    if not lake.exists(relpath):
        return None
    with lake.open(relpath) as f:
        return as_polars(pq.read_table(f, columns=columns))


def write_detection(detection: FraudDetection, folder: str | Path) -> dict[str, Path]:
    """Write the three tables as Parquet under ``folder`` (fixed writer options: same tables, same bytes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"flags": detection.flags, "accounts": detection.accounts, "tracks": detection.tracks}
    return {name: write_parquet_file(table, folder / f"{name}.parquet") for name, table in tables.items()}


def publish_detection(lake: Lake, detection: FraudDetection) -> None:
    """Replace the day's ``fraud_report`` then ``fraud_flags`` partitions (each atomically, manifest last).

    A day with no fraud still publishes files with the schema and no rows, so
    readers (the dbt anti-join) always find every screened day.
    """
    publish_tables(
        lake,
        report_prefix(detection.day),
        {"accounts.parquet": detection.accounts, "tracks.parquet": detection.tracks},
    )
    publish_tables(lake, flags_prefix(detection.day), {"part-00000.parquet": detection.flags})
