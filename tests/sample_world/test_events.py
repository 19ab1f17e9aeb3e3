"""Listening events of the small world: schema, determinism, planted structure, defects and fraud.

One small world (catalog, users, fraud plan, events) is built per module and
read back from its Parquet files, so every test checks what landed on disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.sample_world.catalog import Catalog, generate_catalog
from pipelines.sample_world.events import (
    EVENT_SCHEMA,
    LATENESS_WINDOW_DAYS,
    UTC_OFFSET_HOURS,
    EventsSummary,
    events_root,
    generate_events,
)
from pipelines.sample_world.fraud import FRAUD_KINDS, FraudPlan, plan_fraud
from pipelines.sample_world.scales import SCALES
from pipelines.sample_world.taste import CLUSTER_NAMES
from pipelines.sample_world.users import generate_users

SEED = 11
SCALE = SCALES["small"]
HOUR_MS = 3_600_000


@dataclasses.dataclass(frozen=True)
class World:
    catalog: Catalog
    users: pl.DataFrame  # honest users and bots, as the world writes them
    fraud: FraudPlan
    out: Path
    summary: EventsSummary
    delivered: pl.DataFrame  # every delivered row, with its arrival `date` and `file` name
    plays: (
        pl.DataFrame
    )  # one row per event_id, with the user's hidden traits and `kind` (null: honest)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    catalog = generate_catalog(SCALE, SEED)
    honest = generate_users(SCALE, SEED)
    fraud = plan_fraud(SCALE, SEED, honest, catalog.tracks, catalog.artists)
    users = pl.concat([honest, fraud.bot_users])
    out = tmp_path_factory.mktemp("events-a")
    summary = generate_events(
        SCALE, SEED, catalog.tracks, users, catalog.artists, fraud, out, workers=1
    )
    delivered = (
        pl.read_parquet(
            str(events_root(out) / "**" / "*.parquet"),
            hive_partitioning=True,
            include_file_paths="path",
        )
        .with_columns(pl.col("path").str.split("/").list.last().alias("file"))
        .drop("path")
    )
    plays = (
        delivered.unique("event_id", keep="first", maintain_order=True)
        .join(
            users.select(
                "user_id",
                "_cluster",
                "signup_date",
                "plan",
                pl.col("country").alias("home"),
                pl.col("platform").alias("device"),
            ),
            on="user_id",
            how="left",
        )
        .join(fraud.accounts_truth.select("user_id", "kind"), on="user_id", how="left")
        .with_columns(pl.col("started_at").dt.date().alias("day"))
    )
    return World(catalog, users, fraud, out, summary, delivered, plays)


@pytest.fixture(scope="module")
def honest(world: World) -> pl.DataFrame:
    return world.plays.filter(pl.col("kind").is_null())


def _bytes_by_file(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------- format


def test_every_file_has_the_event_schema_and_a_date_partition(world: World) -> None:
    root = events_root(world.out)
    files = sorted(root.rglob("*.parquet"))
    assert len(files) == world.summary.files
    for path in files:
        assert pq.read_schema(path).remove_metadata() == EVENT_SCHEMA
        assert dt.date.fromisoformat(path.parent.name.removeprefix("date=")) >= SCALE.start
    assert not list(root.rglob(".tmp-*"))


def test_event_ids_are_uuid_text_and_categories_are_known(world: World) -> None:
    d = world.delivered
    assert d["event_id"].str.len_bytes().unique().to_list() == [36]
    assert (
        d["event_id"]
        .str.contains(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        .all()
    )
    assert set(d["platform"].unique()) <= {"android", "ios", "web"}
    assert set(d["source"].unique()) <= {"search", "playlist", "algorithmic", "radio"}
    assert set(d["user_id"].unique()) <= set(world.users["user_id"])
    assert set(d["track_id"].unique()) <= set(world.catalog.tracks["track_id"])


def test_same_seed_same_bytes_whatever_the_worker_count(world: World, tmp_path: Path) -> None:
    again = generate_events(
        SCALE,
        SEED,
        world.catalog.tracks,
        world.users,
        world.catalog.artists,
        world.fraud,
        tmp_path,
        workers=2,
    )
    assert again == world.summary
    first, second = _bytes_by_file(events_root(world.out)), _bytes_by_file(events_root(tmp_path))
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)


def test_summary_counts_match_the_files(world: World) -> None:
    s = world.summary
    assert s.events == world.delivered.height
    assert s.duplicates == world.delivered.height - world.plays.height
    assert s.fraud_events == world.plays.filter(pl.col("kind").is_not_null()).height
    assert s.bytes == sum(p.stat().st_size for p in events_root(world.out).rglob("*.parquet"))


def test_total_lands_near_the_scale_target(world: World) -> None:
    assert abs(world.summary.events - SCALE.events) <= 0.10 * SCALE.events


# ----------------------------------------------------------------------------- honest structure


def test_users_of_one_cluster_share_far_more_listening_than_users_of_different_clusters(
    honest: pl.DataFrame,
) -> None:
    counts = honest.group_by("user_id", "_cluster", "track_id").len()
    users = counts.select("user_id", "_cluster").unique().sort("user_id")
    tracks = counts["track_id"].unique().sort()
    u_idx = counts["user_id"].cast(pl.Enum(users["user_id"])).to_physical().to_numpy()
    t_idx = counts["track_id"].cast(pl.Enum(tracks)).to_physical().to_numpy()
    matrix = np.zeros((users.height, tracks.len()))
    np.add.at(matrix, (u_idx, t_idx), counts["len"].to_numpy())
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    cosine = unit @ unit.T
    cluster = users["_cluster"].to_numpy()
    same = cluster[:, None] == cluster[None, :]
    np.fill_diagonal(same, False)
    within, across = cosine[same].mean(), cosine[cluster[:, None] != cluster[None, :]].mean()
    assert within > 2.0 * across


def test_popularity_is_a_power_law(world: World) -> None:
    per_track = world.plays.group_by("track_id").len().sort("len", descending=True)["len"]
    n, total = world.catalog.tracks.height, per_track.sum()
    assert per_track.head(n // 10).sum() / total > 0.25  # 2.5x a flat catalog, even with 40 tracks
    assert per_track.head(n // 5).sum() > 2 * per_track.tail(n // 2).sum()


def test_users_return_to_their_favourites(honest: pl.DataFrame) -> None:
    pairs = honest.group_by("user_id", "track_id").len()
    assert pairs["len"].mean() > 2.0
    # each user's most played track alone takes a clear share of their plays
    per_user = (
        honest.group_by("user_id")
        .agg(
            pl.len().alias("n"),
            pl.col("track_id").value_counts(sort=True).first().struct.field("count").alias("top"),
        )
        .filter(pl.col("n") >= 50)
    )
    assert (per_user["top"] / per_user["n"]).median() > 0.1


def test_skips_are_short_and_full_plays_follow_the_track_duration(world: World) -> None:
    p = world.plays.join(world.catalog.tracks.select("track_id", "duration_ms"), on="track_id")
    assert (p["skipped"] == (p["ms_played"] < 30_000)).all()
    assert (p["ms_played"] > 0).all() and (p["ms_played"] <= p["duration_ms"]).all()
    kept = p.filter(~pl.col("skipped") & pl.col("kind").is_null())
    assert (
        (kept["duration_ms"] - kept["ms_played"]) <= 1_500
    ).mean() > 0.6  # mostly played through
    assert (
        (kept["duration_ms"] - kept["ms_played"]) > 1_500
    ).mean() > 0.05  # some stopped after 30 s


def test_skips_are_likelier_far_from_taste_and_saves_close_to_it(
    world: World, honest: pl.DataFrame
) -> None:
    from audio.taxonomy import GENRE_IDS
    from pipelines.sample_world.taste import cluster_genre_matrix

    cg = cluster_genre_matrix()
    liked = pl.DataFrame(
        {
            "_cluster": np.repeat(np.arange(len(CLUSTER_NAMES)), len(GENRE_IDS)).astype(np.int16),
            "genre": list(GENRE_IDS) * len(CLUSTER_NAMES),
            "weight": cg.ravel(),
        }
    )
    p = honest.join(world.catalog.tracks.select("track_id", "genre"), on="track_id").join(
        liked, on=["_cluster", "genre"]
    )
    off_taste, on_taste = p.filter(pl.col("weight") == 0), p.filter(pl.col("weight") >= 0.3)
    assert off_taste["skipped"].mean() > 2 * on_taste["skipped"].mean()
    assert on_taste["saved"].mean() > 2 * off_taste["saved"].mean()


def test_nobody_plays_before_signup_and_nothing_before_release(world: World) -> None:
    p = world.plays.join(world.catalog.tracks.select("track_id", "release_date"), on="track_id")
    assert p.filter(pl.col("day") < pl.col("signup_date")).is_empty()
    assert p.filter(pl.col("day") < pl.col("release_date")).is_empty()
    assert p["day"].min() >= SCALE.start and p["day"].max() <= SCALE.end


def test_new_releases_are_boosted_in_their_first_two_weeks(world: World) -> None:
    new = world.catalog.tracks.filter(pl.col("release_date") >= SCALE.start).select(
        "track_id", "release_date"
    )
    p = world.plays.join(new, on="track_id").with_columns(
        age=(pl.col("day") - pl.col("release_date")).dt.total_days()
    )
    per_day_early = p.filter(pl.col("age") < 7).height / 7
    later = p.filter(pl.col("age") >= 14)
    days_later = later.select(pl.col("day").n_unique()).item() or 1
    assert per_day_early > 1.3 * later.height / days_later


def test_weekends_are_busier_and_evenings_peak(honest: pl.DataFrame) -> None:
    by_weekday = (
        honest.group_by(pl.col("started_at").dt.weekday().alias("wd"))
        .len()
        .sort("wd")["len"]
        .to_numpy()
    )
    assert by_weekday[5:].mean() > 1.08 * by_weekday[:4].mean()  # Sat/Sun vs Mon-Thu
    offsets = pl.DataFrame(
        {"home": list(UTC_OFFSET_HOURS), "offset": list(UTC_OFFSET_HOURS.values())}
    )
    local = honest.join(offsets, on="home").select(
        ((pl.col("started_at").dt.hour().cast(pl.Int32) + pl.col("offset")) % 24).alias("hour")
    )["hour"]
    evening, small_hours = local.is_between(18, 22).sum() / 5, local.is_between(2, 4).sum() / 3
    assert evening > 4 * small_hours


def test_sleep_sounds_are_for_sleepers_at_night(world: World, honest: pl.DataFrame) -> None:
    noise = honest.join(
        world.catalog.tracks.filter(~pl.col("is_music")).select("track_id"), on="track_id"
    )
    assert noise.height > 0
    assert (noise["_cluster"] == CLUSTER_NAMES.index("sleep")).mean() > 0.8
    offsets = pl.DataFrame(
        {"home": list(UTC_OFFSET_HOURS), "offset": list(UTC_OFFSET_HOURS.values())}
    )
    hour = noise.join(offsets, on="home").select(
        ((pl.col("started_at").dt.hour().cast(pl.Int32) + pl.col("offset")) % 24).alias("h")
    )["h"]
    assert (hour.is_in([20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6])).mean() > 0.8


def test_free_users_lean_on_radio_and_algorithmic_sources(honest: pl.DataFrame) -> None:
    lean = honest.group_by(pl.col("plan") == "free").agg(
        pl.col("source").is_in(["radio", "algorithmic"]).mean()
    )
    share = dict(zip(lean["plan"].to_list(), lean["source"].to_list(), strict=True))
    assert share[True] > share[False] + 0.15


def test_plays_happen_mostly_at_home_on_the_usual_device(honest: pl.DataFrame) -> None:
    assert 0.95 < (honest["country"] == honest["home"]).mean() < 1.0  # travellers exist
    assert 0.85 < (honest["platform"] == honest["device"]).mean() < 1.0


def test_honest_users_stay_humanly_plausible(honest: pl.DataFrame) -> None:
    daily = honest.group_by("user_id", "day").agg(
        (pl.col("ms_played").sum() / HOUR_MS).alias("hours")
    )
    assert daily["hours"].max() < 10
    per_user = honest.group_by("user_id").agg(
        pl.len().alias("n"), pl.col("skipped").mean().alias("skip")
    )
    regulars = per_user.filter(pl.col("n") >= 100)["skip"]
    assert regulars.quantile(0.01) > 0.03 and regulars.min() > 0  # everybody skips now and then
    # a user's plays never overlap one another
    overlap = (
        honest.sort("user_id", "started_at")
        .with_columns(next_start=pl.col("started_at").shift(-1).over("user_id"))
        .filter(
            pl.col("next_start")
            < pl.col("started_at") + pl.duration(milliseconds=pl.col("ms_played"))
        )
    )
    assert overlap.is_empty()


# ----------------------------------------------------------------------------- delivery defects


def test_duplicates_are_identical_redeliveries_on_the_same_or_next_day(world: World) -> None:
    d = world.delivered
    dup_ids = d.group_by("event_id").len().filter(pl.col("len") > 1)["event_id"]
    assert dup_ids.len() == world.summary.duplicates > 0
    assert 0.003 < dup_ids.len() / world.plays.height < 0.008
    copies = d.filter(pl.col("event_id").is_in(dup_ids.implode()))
    assert copies.drop("date", "file").unique().height == dup_ids.len()  # same content
    spread = copies.group_by("event_id").agg(
        (pl.col("date").max() - pl.col("date").min()).dt.total_days().alias("gap"),
        pl.col("file").str.starts_with("redelivery-").sum().alias("redelivered"),
    )
    assert spread["gap"].max() <= 1 and (spread["redelivered"] == 1).all()


def test_late_events_land_in_their_arrival_day_partition(world: World) -> None:
    d = world.delivered.with_columns(
        lag=(pl.col("date") - pl.col("started_at").dt.date()).dt.total_days()
    )
    assert d["lag"].min() == 0  # nothing arrives before it was played
    first = d.filter(~pl.col("file").str.starts_with("redelivery-"))
    late = first.filter(pl.col("lag").is_between(1, 3))
    beyond = first.filter(pl.col("lag") > LATENESS_WINDOW_DAYS)
    assert late.height == world.summary.late and beyond.height == world.summary.late_beyond_window
    assert 0.01 < late.height / first.height < 0.02
    assert 0.0005 < beyond.height / first.height < 0.002 and beyond["lag"].max() <= 20
    assert (
        late["file"].str.starts_with("late-from-").all()
        and beyond["file"].str.starts_with("late-from-").all()
    )
    assert first.filter(pl.col("lag").is_between(4, LATENESS_WINDOW_DAYS)).is_empty()


# ----------------------------------------------------------------------------- fraud


def test_fraud_plan_truth_is_complete(world: World) -> None:
    truth, bots = world.fraud.accounts_truth, world.fraud.bot_users
    assert bots.columns == world.users.columns and bots.schema == world.users.schema
    assert bots["user_id"].is_unique().all() and truth["user_id"].sort().equals(
        bots["user_id"].sort()
    )
    assert world.users["user_id"].is_unique().all()
    per_kind = truth.group_by("kind").len()
    assert dict(zip(per_kind["kind"], per_kind["len"], strict=True)).keys() == set(FRAUD_KINDS)
    assert per_kind["len"].min() >= 2
    targets = (
        truth.explode("target_track_ids")
        .select(pl.col("target_track_ids").alias("track_id"), "kind")
        .unique()
    )
    assert targets.sort("track_id", "kind").equals(
        world.fraud.tracks_truth.sort("track_id", "kind")
    )
    assert (truth["first_day"] >= SCALE.start).all() and (truth["last_day"] <= SCALE.end).all()


def test_every_fraud_kind_has_events_and_fraud_share_is_3_to_6_percent(world: World) -> None:
    kinds = world.plays.group_by("kind").len().drop_nulls("kind")
    assert set(kinds["kind"]) == set(FRAUD_KINDS)
    share = world.plays["kind"].is_not_null().mean()
    assert 0.03 <= share <= 0.06
    active = world.plays.filter(pl.col("kind").is_not_null()).select("user_id").unique()
    assert active.height == world.fraud.accounts_truth.height  # every bot played


def _bot_days(world: World, kind: str) -> pl.DataFrame:
    return (
        world.plays.filter(pl.col("kind") == kind)
        .sort("user_id", "started_at")
        .group_by("user_id", "day")
        .agg(
            pl.len().alias("n"),
            (pl.col("ms_played").sum() / HOUR_MS).alias("hours"),
            (
                (pl.col("started_at").max() - pl.col("started_at").min()).dt.total_milliseconds()
                / HOUR_MS
            ).alias("span"),
            pl.col("skipped").mean().alias("skip"),
            pl.col("track_id").n_unique().alias("tracks"),
            pl.col("ms_played").min().alias("ms_min"),
            pl.col("ms_played").max().alias("ms_max"),
            pl.col("started_at").diff().dt.total_milliseconds().drop_nulls().alias("gaps"),
        )
    )


def test_loopers_repeat_one_track_just_past_the_stream_threshold(world: World) -> None:
    days = _bot_days(world, "looper")
    assert (days["tracks"] == 1).all()
    assert (days["ms_min"] >= 30_000).all() and (days["ms_max"] < 31_500).all()
    gaps = days["gaps"].explode()
    assert gaps.min() >= 31_000 and gaps.max() <= 40_000
    assert (days["n"] > 100).all()  # far beyond any honest listener's repeat of one track


def test_implausible_listeners_exceed_16_hours_a_day(world: World) -> None:
    days = _bot_days(world, "implausible")
    assert (days["hours"] > 16).all() and (days["tracks"] > 5).all()


def test_machine_regular_bots_never_skip_and_keep_time(world: World) -> None:
    days = _bot_days(world, "machine_regular")
    assert (days["skip"] == 0).all()
    spread = days["gaps"].list.eval(pl.element().std() / pl.element().mean()).explode()
    assert spread.max() < 0.01


def test_farm_accounts_are_fresh_lookalikes_streaming_the_same_few_tracks(world: World) -> None:
    farm = world.fraud.accounts_truth.filter(pl.col("kind") == "farm").join(
        world.users, on="user_id"
    )
    for _, group in farm.group_by(pl.col("target_track_ids").list.join(",")):
        assert group.height >= 10
        assert group["country"].n_unique() == 1 and group["platform"].n_unique() == 1
        assert (group["signup_date"].max() - group["signup_date"].min()).days <= 1
        assert group["target_track_ids"].list.len().max() <= 6
        plays = world.plays.filter(pl.col("user_id").is_in(group["user_id"].implode()))
        targets = group["target_track_ids"][0].to_list()
        assert plays["track_id"].is_in(targets).mean() > 0.8


def test_geo_spikes_are_sudden_and_foreign(world: World) -> None:
    spikes = world.fraud.accounts_truth.filter(pl.col("kind") == "geo_spike").join(
        world.users.select("user_id", "country"), on="user_id"
    )
    for (track, country), group in spikes.group_by(
        pl.col("target_track_ids").list.first(), "country"
    ):
        track_plays = world.plays.filter(
            (pl.col("track_id") == track) & (pl.col("country") == country)
        )
        spike_days = track_plays.filter(pl.col("user_id").is_in(group["user_id"].implode()))[
            "day"
        ].unique()
        assert 1 <= spike_days.len() <= 2
        in_spike = track_plays.filter(pl.col("day").is_in(spike_days.implode())).height
        usual_per_day = (track_plays.height - in_spike) / (SCALE.days - spike_days.len())
        assert in_spike / spike_days.len() > 20 * max(
            usual_per_day, 1.0
        )  # otherwise rarely heard there


def test_honest_and_fraud_signatures_do_not_overlap(world: World, honest: pl.DataFrame) -> None:
    """A plain rule per kind separates bots from all honest users (what fraud filters build on)."""
    daily = honest.group_by("user_id", "day").agg(
        (pl.col("ms_played").sum() / HOUR_MS).alias("hours"),
        pl.col("track_id").value_counts(sort=True).first().struct.field("count").alias("top"),
    )
    assert daily["hours"].max() < 16  # implausible bots are all above
    loops = _bot_days(world, "looper")["n"].min()
    assert daily["top"].max() < loops  # no honest user loops a track as often as the loopers
