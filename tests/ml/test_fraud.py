"""Streaming-fraud detection: one small synthetic case per rule, and the score on the small sample world.

The synthetic cases are hand-built play days on a background of ordinary listeners
(skips, irregular gaps, sessions), so every rule is shown to fire on its
behaviour and to stay silent on the honest look-alike next to it (a 15-hour
heavy listener, a traveller, a fan who replays a song, a group of friends).
The sample-world test scores the detector against the planted bots of the small
world (seed 7) the main job generates.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from ml.fraud import (
    ACCOUNTS_SCHEMA,
    FLAGS_SCHEMA,
    TRACKS_SCHEMA,
    FraudDetection,
    FraudInputError,
    FraudRules,
    Reason,
    daily_track_country_plays,
    detect_fraud,
    detect_inputs,
    read_day_inputs,
    write_detection,
)
from ml.fraud_evaluation import evaluate, load_truth
from pipelines.event_loading import load_known_tracks, load_play_day, publish_play_day
from pipelines.lake import Lake

D = dt.date(2026, 9, 20)
HOUR = 3_600_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# a small catalog: 40 tracks of 8 artists from 4 countries, 2-4 minutes long
ARTIST_COUNTRY = {
    f"art_{i}": c for i, c in enumerate(["CD", "CD", "KE", "KE", "FR", "FR", "NG", "NG"])
}
TRACKS = pl.DataFrame(
    {
        "track_id": [f"T{i:02d}" for i in range(40)],
        "artist_id": [f"art_{i % 8}" for i in range(40)],
        "duration_ms": [120_000 + 2_500 * i for i in range(40)],
    }
)
ARTISTS = pl.DataFrame(
    {"artist_id": list(ARTIST_COUNTRY), "country": list(ARTIST_COUNTRY.values())}
)
DURATION = dict(zip(TRACKS["track_id"].to_list(), TRACKS["duration_ms"].to_list(), strict=True))


def _day_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * 86_400_000


def _rows(
    user: str,
    day: dt.date,
    starts: list[int],
    tracks: list[str],
    ms: list[int],
    *,
    skipped: list[bool] | None = None,
    country: str = "CD",
    platform: str = "android",
) -> list[dict]:
    """Plays of one user on one day; ``starts`` are ms offsets into the UTC day."""
    base = _day_ms(day)
    skipped = skipped if skipped is not None else [m < 30_000 for m in ms]
    return [
        {
            "event_id": f"{user}-{day:%m%d}-{i:05d}",
            "user_id": user,
            "track_id": t,
            "started_at": base + s,
            "ms_played": m,
            "country": country,
            "platform": platform,
            "source": "playlist",
            "saved": False,
            "skipped": k,
        }
        for i, (s, t, m, k) in enumerate(zip(starts, tracks, ms, skipped, strict=True))
    ]


def _listener(
    rng: np.random.Generator,
    user: str,
    day: dt.date,
    *,
    plays: int,
    start_ms: int,
    skip: float = 0.1,
    pool: list[str] | None = None,
    country: str = "CD",
    sessions: int = 3,
) -> list[dict]:
    """A person: a few sessions, tracks of their taste, some skips, seconds-irregular gaps."""
    pool = pool or TRACKS["track_id"].to_list()
    tracks = [pool[int(i)] for i in rng.integers(0, len(pool), plays)]
    skipped = (rng.random(plays) < skip).tolist()
    ms = [
        int(rng.integers(2_000, 29_000)) if k else DURATION[t] - int(rng.integers(0, 1_500))
        for t, k in zip(tracks, skipped, strict=True)
    ]
    starts, now = [], start_ms
    breaks = (
        set(
            rng.choice(
                np.arange(1, plays), size=min(sessions - 1, plays - 1), replace=False
            ).tolist()
        )
        if plays > 1
        else set()
    )
    for i, m in enumerate(ms):
        if i in breaks:
            now += int(rng.integers(20, 120)) * 60_000
        starts.append(now)
        now += m + 300 + int(rng.exponential(1_200))
    return _rows(user, day, starts, tracks, ms, skipped=skipped, country=country)


def _users(rows: list[dict], signup: dict[str, dt.date] | None = None) -> pl.DataFrame:
    """Registration data: home country/platform from the plays, sign-ups spread over years unless given."""
    first = {}
    for r in rows:
        first.setdefault(r["user_id"], (r["country"], r["platform"]))
    signup = signup or {}
    ids = sorted(first)
    return pl.DataFrame(
        {
            "user_id": ids,
            "country": [first[u][0] for u in ids],
            "platform": [first[u][1] for u in ids],
            "signup_date": [
                signup.get(u, dt.date(2020, 1, 1) + dt.timedelta(days=37 * i))
                for i, u in enumerate(ids)
            ],
        }
    )


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(
        pl.col("started_at").cast(pl.Datetime("ms", "UTC")), pl.col("ms_played").cast(pl.Int32)
    )


def _background(day: dt.date, seed: int = 1, n: int = 30) -> list[dict]:
    """Ordinary listeners in CD, KE and FR, each playing mostly their own countries' music."""
    rng = np.random.default_rng([seed, day.toordinal()])
    rows = []
    for i in range(n):
        country = ("CD", "KE", "FR")[i % 3]
        local = TRACKS.join(ARTISTS.filter(pl.col("country") == country), on="artist_id")[
            "track_id"
        ].to_list()
        rows += _listener(
            rng,
            f"bg{i:03d}",
            day,
            plays=int(rng.integers(5, 40)),
            start_ms=int(rng.integers(6, 14)) * HOUR,
            pool=local,
            country=country,
        )
    return rows


def _detect(
    rows: list[dict],
    *,
    history: list[dict] = (),
    signup: dict[str, dt.date] | None = None,
    rules: FraudRules | None = None,
    day: dt.date = D,
) -> FraudDetection:
    all_rows = list(history) + rows
    return detect_fraud(day, _frame(all_rows), _users(all_rows, signup), TRACKS, ARTISTS, rules)


def _flagged(det: FraudDetection) -> dict[str, str]:
    """user_id -> reasons of the flagged accounts."""
    return dict(
        zip(det.accounts["user_id"].to_pylist(), det.accounts["reasons"].to_pylist(), strict=True)
    )


def _evidence(det: FraudDetection, user: str) -> dict:
    row = det.accounts["user_id"].to_pylist().index(user)
    return json.loads(det.accounts["evidence"][row].as_py())


# ----------------------------------------------------------------------------- one rule each


def test_a_looper_is_flagged_with_every_play_of_the_day() -> None:
    rng = np.random.default_rng(1)
    n = 600  # a play every 31-40 s for about 6 hours
    starts = np.cumsum(rng.integers(31_000, 40_000, n)) + 2 * HOUR
    loop = _rows(
        "looper", D, starts.tolist(), ["T07"] * n, rng.integers(30_050, 30_950, n).tolist()
    )
    det = _detect(_background(D) + loop)
    assert _flagged(det) == {"looper": Reason.LOOPING}
    assert det.flags.num_rows == n
    assert set(det.flags["reason"].to_pylist()) == {Reason.LOOPING}
    evidence = _evidence(det, "looper")
    assert evidence["top_track_id"] == "T07" and evidence["top_track_plays"] == n
    assert evidence["top_track_share"] == 1.0
    tracks = det.tracks.to_pylist()
    assert [t["track_id"] for t in tracks] == ["T07"] and tracks[0]["accounts"] == 1


def test_a_fan_with_a_song_on_repeat_is_not_a_looper() -> None:
    rng = np.random.default_rng(2)
    # 140 plays, ~95% of them one song, over a long day: but a person, who skips now and then
    pool = ["T03"] * 19 + ["T04"]
    fan = _listener(rng, "fan", D, plays=140, start_ms=7 * HOUR, pool=pool, skip=0.08, sessions=6)
    top = sum(r["track_id"] == "T03" for r in fan)
    assert top >= 120 and top / len(fan) >= 0.9
    assert _flagged(_detect(_background(D) + fan)) == {}


def test_a_loop_beyond_any_person_is_flagged_even_with_skips() -> None:
    rng = np.random.default_rng(21)
    n = 500
    starts = np.cumsum(rng.integers(31_000, 40_000, n)) + HOUR
    ms = rng.integers(30_050, 30_950, n)
    ms[rng.random(n) < 0.05] = 12_000  # a script that fakes a few skips
    loop = _rows("sly", D, starts.tolist(), ["T07"] * n, ms.tolist())
    det = _detect(_background(D) + loop)
    assert _flagged(det) == {"sly": Reason.LOOPING}
    assert _evidence(det, "sly")["skip_rate"] > 0.02


def test_eighteen_hours_of_listening_is_implausible() -> None:
    rng = np.random.default_rng(3)
    rows = _listener(rng, "sleepless", D, plays=1_000, start_ms=0, skip=0.03, sessions=1)
    listened, keep = 0, []
    for r in rows:  # cut at 18 h of listening (~19 h of wall clock with the gaps)
        if listened >= 18 * HOUR:
            break
        listened += r["ms_played"]
        keep.append(r)
    det = _detect(_background(D) + keep)
    assert _flagged(det) == {"sleepless": Reason.IMPLAUSIBLE_LISTENING_TIME}
    assert _evidence(det, "sleepless")["listening_hours"] > 17.9
    assert det.flags.num_rows == len(keep)


def test_fifteen_hours_of_honest_looking_listening_is_not_flagged() -> None:
    rng = np.random.default_rng(4)
    rows = _listener(rng, "heavy", D, plays=1_000, start_ms=HOUR, skip=0.06, sessions=4)
    listened, keep = 0, []
    for r in rows:
        if listened >= 15 * HOUR:
            break
        listened += r["ms_played"]
        keep.append(r)
    assert sum(r["ms_played"] for r in keep) > 14.9 * HOUR
    assert _flagged(_detect(_background(D) + keep)) == {}
    # the same listener is caught once the threshold is lowered below their hours (fraud_max_daily_hours)
    assert _flagged(_detect(_background(D) + keep, rules=FraudRules(max_daily_hours=14.0))) == {
        "heavy": Reason.IMPLAUSIBLE_LISTENING_TIME
    }


def test_machine_regular_intervals_without_skips_are_flagged() -> None:
    rng = np.random.default_rng(5)
    n, interval = 150, 95_000
    starts = (8 * HOUR + np.arange(n) * interval + rng.integers(-20, 21, n)).tolist()
    tracks = [f"T{int(i):02d}" for i in rng.integers(0, 20, n)]
    ms = [min(DURATION[t], interval - 1_500) for t in tracks]
    bot = _rows("script", D, starts, tracks, ms)
    # an honest listener with the same number of plays and no skips that day, but human gaps
    person = _listener(rng, "calm", D, plays=150, start_ms=8 * HOUR, skip=0.0, sessions=2)
    det = _detect(_background(D) + bot + person)
    assert _flagged(det) == {"script": Reason.MACHINE_REGULAR}
    evidence = _evidence(det, "script")
    assert evidence["interval_regular_share"] > 0.95 and evidence["skip_rate"] == 0.0
    assert evidence["interval_median_s"] == pytest.approx(95.0, abs=0.05)


def _farm_rows(
    rng: np.random.Generator,
    prefix: str,
    n: int,
    *,
    country: str,
    targets: list[str],
    skip: float = 0.0,
) -> list[dict]:
    rows = []
    for i in range(n):
        k = int(rng.poisson(50))
        tracks = [
            targets[int(j)] if rng.random() < 0.9 else f"T{int(rng.integers(0, 40)):02d}"
            for j in rng.integers(0, len(targets), k)
        ]
        ms = [int(rng.integers(31_000, 62_000)) for _ in tracks]
        skipped = (rng.random(k) < skip).tolist()
        starts = (
            int(rng.integers(0, 10)) * HOUR
            + np.cumsum([m + int(rng.integers(1_000, 6_000)) for m in ms])
        ).tolist()
        rows += _rows(f"{prefix}{i:02d}", D, starts, tracks, ms, skipped=skipped, country=country)
    return rows


def test_a_farm_of_accounts_registered_together_is_flagged() -> None:
    rng = np.random.default_rng(6)
    farm = _farm_rows(rng, "farm", 8, country="NG", targets=["T01", "T09", "T17"])
    signup = {f"farm{i:02d}": D - dt.timedelta(days=3 + i % 2) for i in range(8)}
    det = _detect(_background(D) + farm, signup=signup)
    flagged = _flagged(det)
    assert flagged == {f"farm{i:02d}": Reason.FARM for i in range(8)}
    assert det.flags.num_rows == len(farm)
    farm_evidence = _evidence(det, "farm00")["farm"]
    assert farm_evidence["size"] == 8 and farm_evidence["cohort"] == f"farm-{D:%Y%m%d}-farm00"
    assert {t for t in det.tracks["track_id"].to_pylist()} >= {"T01", "T09", "T17"}


def test_friends_streaming_the_same_tracks_are_not_a_farm() -> None:
    rng = np.random.default_rng(7)
    # the same tracks, country and platform, but accounts registered years apart and with skips
    friends = _farm_rows(rng, "friend", 8, country="NG", targets=["T01", "T09", "T17"], skip=0.08)
    assert _flagged(_detect(_background(D) + friends)) == {}
    # ...and registered years apart even without skips: not created together, not a farm
    rng = np.random.default_rng(7)
    fans = _farm_rows(rng, "fan", 8, country="NG", targets=["T01", "T09", "T17"])
    assert _flagged(_detect(_background(D) + fans)) == {}


def _history(days: int) -> list[dict]:
    rows = []
    for k in range(1, days + 1):
        rows += _background(D - dt.timedelta(days=k))
    return rows


def test_a_sudden_geographic_spike_is_flagged() -> None:
    rng = np.random.default_rng(8)
    # T02 is by a CD artist (art_2 is KE: pick a CD track by a CD artist): T00 -> art_0 (CD)
    target = "T00"
    spike = []
    for i in range(5):
        k = int(rng.integers(40, 60))
        tracks = [target if rng.random() < 0.7 else "T04" for _ in range(k)]
        ms = [DURATION[t] - int(rng.integers(0, 2_000)) for t in tracks]
        starts = (int(rng.integers(8, 12)) * HOUR + np.cumsum([m + 2_000 for m in ms])).tolist()
        spike += _rows(f"spike{i}", D, starts, tracks, ms, country="GB", platform="ios")
    # an ordinary GB listener who played the track twice that day is not part of the campaign
    casual = _rows(
        "casual",
        D,
        [15 * HOUR, 15 * HOUR + 200_000, 16 * HOUR],
        [target, "T05", target],
        [DURATION[target], 20_000, DURATION[target]],
        country="GB",
    )
    det = _detect(_background(D) + spike + casual, history=_history(10))
    assert _flagged(det) == {f"spike{i}": Reason.GEO_SPIKE for i in range(5)}
    track_row = det.tracks["track_id"].to_pylist().index(target)
    evidence = json.loads(det.tracks["evidence"][track_row].as_py())
    (geo,) = evidence["geo_spike"]
    assert geo["country"] == "GB" and geo["heavy_accounts"] == 5 and geo["history_days"] == 10
    assert geo["artist_country"] == "CD" and geo["ratio"] >= 10
    assert _evidence(det, "spike0")["geo_spike"][0]["track_id"] == target


def test_the_same_spike_on_the_first_day_of_data_is_not_judged() -> None:
    rng = np.random.default_rng(8)
    spike = []
    for i in range(5):
        tracks = ["T00" if rng.random() < 0.7 else "T04" for _ in range(50)]
        ms = [DURATION[t] - int(rng.integers(0, 2_000)) for t in tracks]
        starts = (9 * HOUR + np.cumsum([m + 2_000 for m in ms])).tolist()
        spike += _rows(f"spike{i}", D, starts, tracks, ms, country="GB")
    expected = {f"spike{i}": Reason.GEO_SPIKE for i in range(5)}
    assert _flagged(_detect(_background(D) + spike, history=_history(1))) == expected
    det = _detect(_background(D) + spike)  # no history at all: "sudden" has no before
    assert _flagged(det) == {}
    assert any("GEO_SPIKE not evaluated" in n for n in det.notes)


def test_a_traveller_is_not_a_geographic_spike() -> None:
    rng = np.random.default_rng(9)
    home = _listener(rng, "traveller", D - dt.timedelta(days=1), plays=30, start_ms=9 * HOUR)
    abroad = _listener(
        rng, "traveller", D, plays=60, start_ms=9 * HOUR, country="FR", pool=["T00", "T01", "T08"]
    )
    det = _detect(_background(D) + abroad, history=_history(10) + home)
    assert _flagged(det) == {}


def _fans(rng: np.random.Generator, day: dt.date, track: str, country: str, n: int) -> list[dict]:
    """n listeners who love one track: ~40% of their ~30 plays, with skips and human gaps."""
    rows = []
    for i in range(n):
        pool = [track] * 2 + ["T08", "T16", "T24"]
        rows += _listener(
            rng,
            f"fan-{country}{i}",
            day,
            plays=30,
            start_ms=17 * HOUR,
            pool=pool,
            skip=0.05,
            country=country,
        )
    return rows


def test_a_track_that_is_always_big_at_home_is_not_a_spike() -> None:
    rng = np.random.default_rng(10)
    history = _history(10)
    for k in range(1, 11):  # every day, the same crowd of local fans
        history += _fans(rng, D - dt.timedelta(days=k), "T00", "CD", 6)
    det = _detect(_background(D) + _fans(rng, D, "T00", "CD", 6), history=history)
    assert _flagged(det) == {}


def test_a_new_release_rising_everywhere_is_not_a_spike() -> None:
    rng = np.random.default_rng(11)
    # T39 is out today: no history anywhere, heavy first-day fans in three countries
    release = [r for c in ("CD", "KE", "FR") for r in _fans(rng, D, "T39", c, 5)]
    det = _detect(_background(D) + release, history=_history(10))
    assert _flagged(det) == {}


# ----------------------------------------------------------------------------- outputs


def test_outputs_have_the_fixed_schemas_and_reasons_are_combined() -> None:
    rng = np.random.default_rng(11)
    n = 2_000  # a loop for ~19.5 h: looping AND implausible
    starts = np.cumsum(rng.integers(31_000, 40_000, n))
    ms = rng.integers(35_000, 36_000, n).tolist()
    det = _detect(_background(D) + _rows("both", D, starts.tolist(), ["T03"] * n, ms))
    assert det.flags.schema == FLAGS_SCHEMA and det.accounts.schema == ACCOUNTS_SCHEMA
    assert det.tracks.schema == TRACKS_SCHEMA
    assert FLAGS_SCHEMA.names == [
        "event_id",
        "user_id",
        "track_id",
        "started_at",
        "reason",
        "reasons",
    ]
    assert FLAGS_SCHEMA.field("started_at").type == pa.timestamp("ms", tz="UTC")
    (account,) = det.accounts.to_pylist()
    assert account["reason"] == Reason.LOOPING  # first in REASON_PRIORITY
    assert account["reasons"] == "IMPLAUSIBLE_LISTENING_TIME,LOOPING"
    assert account["flagged_plays"] == det.flags.num_rows
    assert account["flagged_ms"] == sum(ms[: det.flags.num_rows])
    summary = det.summary()
    assert summary["flagged_plays_by_reason"][Reason.LOOPING] == det.flags.num_rows
    assert summary["accounts_by_reason"][Reason.IMPLAUSIBLE_LISTENING_TIME] == 1


def test_detection_is_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    farm = _farm_rows(rng, "farm", 6, country="NG", targets=["T01", "T09"])
    signup = {f"farm{i:02d}": D - dt.timedelta(days=2) for i in range(6)}
    rows = _background(D) + farm
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    first = _detect(rows, signup=signup)
    second = _detect(shuffled, signup=signup)
    for name in ("flags", "accounts", "tracks"):
        assert getattr(first, name).equals(getattr(second, name)), name
    a = write_detection(first, tmp_path / "a")
    b = write_detection(second, tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()


def test_a_day_without_plays_gives_empty_tables_with_the_schemas(tmp_path: Path) -> None:
    history = _history(8)
    det = detect_fraud(D, _frame(history), _users(history), TRACKS, ARTISTS)
    assert (det.flags.num_rows, det.accounts.num_rows, det.tracks.num_rows, det.plays) == (
        0,
        0,
        0,
        0,
    )
    assert det.flags.schema == FLAGS_SCHEMA and det.tracks.schema == TRACKS_SCHEMA
    paths = write_detection(det, tmp_path)
    assert pl.read_parquet(paths["flags"]).columns == FLAGS_SCHEMA.names
    assert det.summary()["flagged_plays"] == 0


def test_a_precomputed_baseline_gives_the_same_result() -> None:
    rows = _background(D) + _history(8)
    events = _frame(rows)
    users = _users(rows)
    whole = detect_fraud(D, events, users, TRACKS, ARTISTS)
    history = events.filter(pl.col("started_at").dt.date() < D)
    split = detect_fraud(
        D,
        events.filter(pl.col("started_at").dt.date() == D),
        users,
        TRACKS,
        ARTISTS,
        baseline=daily_track_country_plays(history),
    )
    assert whole.flags.equals(split.flags) and whole.notes == split.notes


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(FraudInputError, match="lack column"):
        detect_fraud(D, pl.DataFrame({"event_id": ["x"]}))
    with pytest.raises(FraudInputError, match="datetime.date"):
        detect_fraud(dt.datetime(2026, 9, 20), _frame(_background(D)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share"):
        FraudRules(looper_min_share=1.5)
    with pytest.raises(ValueError, match="max_daily_hours"):
        FraudRules(max_daily_hours=30)


def test_evaluation_counts_accounts_plays_kinds_and_honest_exclusion() -> None:
    events = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(10)],
            "user_id": ["bot1"] * 4 + ["bot2"] * 2 + ["h1"] * 3 + ["h2"],
            "ms_played": [30_000] * 6 + [100_000, 100_000, 200_000, 50_000],
        }
    )
    truth = pl.DataFrame({"user_id": ["bot1", "bot2", "bot3"], "kind": ["looper", "farm", "farm"]})
    flags = pl.DataFrame(
        {"event_id": ["e0", "e1", "e2", "e3", "e8"], "reason": ["LOOPING"] * 4 + ["FARM"]}
    )
    score = evaluate(flags, events, truth)
    assert (score.account_precision, score.account_recall) == (0.5, 0.5)  # bot3 never played
    assert score.bots_without_plays == 1
    assert score.play_precision == 0.8 and score.play_recall == 4 / 6
    assert score.honest_exclusion_share == 0.25 and score.honest_exclusion_share_ms == 200 / 450
    assert (
        score.by_kind["looper"].play_recall == 1.0 and score.by_kind["farm"].account_recall == 0.0
    )
    assert score.honest_flagged_by_reason == {"FARM": 1}
    assert json.loads(score.to_json())["play_precision"] == 0.8
    assert "| farm | 1 | 0.0000 | 2 | 0.0000 |" in score.to_markdown()


# ----------------------------------------------------------------------------- the small sample world


@pytest.fixture(scope="module")
def loaded_small_world(small_world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The small world's landed events loaded into listening_events, with its users, catalog and truth."""
    root = tmp_path_factory.mktemp("fraud-world")
    for part in ("landing/events", "landing/users", "reference/catalog", "truth"):
        shutil.copytree(small_world_dir / part, root / part)
    lake = Lake(str(root))
    known = load_known_tracks(lake)
    for name in lake.ls("landing/events"):
        load = load_play_day(lake, dt.date.fromisoformat(name[5:]), known_tracks=known)
        if load.events.num_rows:
            publish_play_day(lake, load)
    return lake


@pytest.mark.slow
def test_precision_and_recall_on_the_small_world(loaded_small_world: Lake) -> None:
    lake = loaded_small_world
    days = sorted(dt.date.fromisoformat(n[5:]) for n in lake.ls("listening_events"))
    assert len(days) >= 35
    flags, events = [], []
    for day in days:
        inputs = read_day_inputs(lake, day)
        det = detect_inputs(inputs)
        flags.append(pl.from_arrow(det.flags))
        events.append(inputs.events)
    score = evaluate(pl.concat(flags), pl.concat(events), load_truth(lake))
    report = score.to_markdown()
    assert score.bot_accounts >= 20, report
    assert score.account_precision >= 0.9 and score.account_recall >= 0.9, report
    assert score.play_precision >= 0.9 and score.play_recall >= 0.9, report
    assert score.honest_exclusion_share <= 0.005, report
    assert score.honest_exclusion_share_ms <= 0.005, report
    for kind, k in score.by_kind.items():  # every planted kind is found
        assert k.accounts and k.account_recall >= 0.5, (kind, report)
