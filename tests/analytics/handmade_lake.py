"""Small hand-made lakes for the analytics tests: events, fraud flags, catalog and users.

Written the way the platform's assets write them (Hive `date=` partitions published with
`Lake.publish`: one `part-00000.parquet` and the `_manifest.json` that SQL readers skip), with
the real schemas, but small enough to reason about row by row.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.event_contract import EVENT_SCHEMA, PLATFORMS, SOURCES
from pipelines.lake import Lake

FRAUD_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("track_id", pa.string()),
        pa.field("started_at", pa.timestamp("ms", tz="UTC")),
        pa.field("reason", pa.string()),
        pa.field("reasons", pa.string()),
    ]
)
"""fraud_flags as the fraud asset writes it (ml/fraud.py FLAGS_SCHEMA; reasons comma-joined)."""

UTC = dt.UTC


@dataclass
class Play:
    event_id: str
    user_id: str
    track_id: str
    started_at: dt.datetime
    ms_played: int
    country: str = "CD"
    platform: str = "android"
    source: str = "search"
    saved: bool = False
    skipped: bool = False

    @property
    def day(self) -> dt.date:
        return self.started_at.astimezone(UTC).date()


@dataclass
class HandmadeLake:
    root: Path
    plays: list[Play] = field(default_factory=list)
    flagged: set[str] = field(default_factory=set)
    tracks: dict[str, str] = field(default_factory=dict)  # track_id -> artist_id
    users: dict[str, str] = field(default_factory=dict)  # user_id -> plan


def write_reference(root: Path, tracks: dict[str, str], users: dict[str, str]) -> None:
    """Catalog tracks and artists, and the user export, with the sample world's schemas."""
    catalog = root / "reference" / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    ids = sorted(tracks)
    n = len(ids)
    ls = pa.large_string()
    pq.write_table(
        pa.table(
            {
                "track_id": pa.array(ids, ls),
                "isrc": pa.array(ids, ls),
                "title": pa.array([f"Title {i}" for i in range(n)], ls),
                "artist_id": pa.array([tracks[t] for t in ids], ls),
                "album_id": pa.array([f"alb_{i:06d}" for i in range(n)], ls),
                "upc": pa.array([f"1900000000{i:02d}" for i in range(n)], ls),
                "label_id": pa.array(["lab_0001"] * n, ls),
                "track_number": pa.array([1] * n, pa.int64()),
                "genre": pa.array(["soukous"] * n, ls),
                "language": pa.array(["ln"] * n, ls),
                "release_date": pa.array(
                    [dt.date(2020, 1, 1 + i % 28) for i in range(n)], pa.date32()
                ),
                "is_new_release": pa.array([False] * n),
                "duration_ms": pa.array([180_000 + i for i in range(n)], pa.int64()),
                "explicit": pa.array([i % 2 == 0 for i in range(n)]),
                "territories": pa.array([["WW"]] * n, pa.large_list(ls)),
                "is_music": pa.array([True] * n),
            }
        ),
        catalog / "tracks.parquet",
    )
    artists = sorted(set(tracks.values()))
    pq.write_table(
        pa.table(
            {
                "artist_id": pa.array(artists, ls),
                "name": pa.array([f"Artist {a}" for a in artists], ls),
                "country": pa.array(["CD"] * len(artists), ls),
                "region": pa.array(["central"] * len(artists), ls),
                "genre": pa.array(["soukous"] * len(artists), ls),
                "label_id": pa.array([None] * len(artists), ls),
            }
        ),
        catalog / "artists.parquet",
    )
    (root / "landing" / "users").mkdir(parents=True, exist_ok=True)
    uids = sorted(users)
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(uids, ls),
                "country": pa.array(["CD"] * len(uids), ls),
                "plan": pa.array([users[u] for u in uids], ls),
                "signup_date": pa.array([dt.date(2025, 1, 1)] * len(uids), pa.date32()),
                "platform": pa.array(["android"] * len(uids), ls),
                "onboarding_genres": pa.array([["soukous"]] * len(uids), pa.large_list(ls)),
            }
        ),
        root / "landing" / "users" / "users.parquet",
    )


def _write_partition(root: Path, dataset: str, day: dt.date, table: pa.Table) -> None:
    """Publish one day the way the assets do: part-00000.parquet, then _manifest.json."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    Lake(str(root)).publish(
        f"{dataset}/date={day.isoformat()}", {"part-00000.parquet": buffer.getvalue()}
    )


def write_events(root: Path, day: dt.date, plays: Iterable[Play]) -> None:
    rows = [p for p in plays if p.day == day]
    table = pa.table(
        {
            "event_id": [p.event_id for p in rows],
            "user_id": [p.user_id for p in rows],
            "track_id": [p.track_id for p in rows],
            "started_at": [p.started_at for p in rows],
            "ms_played": [p.ms_played for p in rows],
            "country": [p.country for p in rows],
            "platform": [p.platform for p in rows],
            "source": [p.source for p in rows],
            "saved": [p.saved for p in rows],
            "skipped": [p.skipped for p in rows],
        },
        schema=EVENT_SCHEMA,
    )
    _write_partition(root, "listening_events", day, table)


def write_fraud(
    root: Path,
    day: dt.date,
    plays: Iterable[Play],
    flagged: set[str],
    *,
    twice: set[str] = frozenset(),
) -> None:
    """Flags for the day's flagged plays; an empty file with the schema when there are none.
    Plays in `twice` get two rows (two reasons), which must still count once."""
    rows = []
    for p in plays:
        if p.day != day or p.event_id not in flagged:
            continue
        for reason in ["LOOPING", "FARM"] if p.event_id in twice else ["LOOPING"]:
            rows.append({
                "event_id": p.event_id, "user_id": p.user_id, "track_id": p.track_id,
                "started_at": p.started_at, "reason": reason, "reasons": reason,
            })  # fmt: skip
    _write_partition(root, "fraud_flags", day, pa.Table.from_pylist(rows, schema=FRAUD_SCHEMA))


def write_lake(lake: HandmadeLake, *, twice: set[str] = frozenset()) -> None:
    write_reference(lake.root, lake.tracks, lake.users)
    days = sorted({p.day for p in lake.plays})
    for day in days:
        write_events(lake.root, day, lake.plays)
        write_fraud(lake.root, day, lake.plays, lake.flagged, twice=twice)


def boundary_lake(root: Path) -> HandmadeLake:
    """One day, a handful of plays around the 30,000 ms boundary, one of them flagged."""
    day = dt.datetime(2026, 9, 7, tzinfo=UTC)
    lake = HandmadeLake(
        root, tracks={"TRK_A": "art_1", "TRK_B": "art_1"}, users={"u1": "free", "u2": "premium"}
    )
    plays = [
        Play("e-29999", "u1", "TRK_A", day + dt.timedelta(hours=1), 29_999),
        Play("e-30000", "u1", "TRK_A", day + dt.timedelta(hours=2), 30_000, source="radio"),
        Play(
            "e-30001",
            "u2",
            "TRK_A",
            day + dt.timedelta(hours=3),
            30_001,
            source="playlist",
            saved=True,
        ),
        Play("e-fraud", "u2", "TRK_A", day + dt.timedelta(hours=4), 200_000),
        Play("e-short", "u2", "TRK_B", day + dt.timedelta(hours=5), 1_000, skipped=True),
    ]
    lake.plays = plays
    lake.flagged = {"e-fraud"}
    write_lake(lake)
    return lake


def mixed_lake(root: Path, *, seed: int = 11) -> HandmadeLake:
    """About 350 plays over 11 days (2026-09-26 .. 10-06: three ISO weeks, two months),
    three countries, eight tracks of three artists, a dozen users on four plans, about 6%
    fraud-flagged (one of them twice), lengths on and around the threshold, plays at the
    very first and last millisecond of a day, and one day whose fraud file is empty."""
    rng = random.Random(seed)
    tracks = {f"TRK{i:02d}": f"art_{i % 3}" for i in range(8)}
    plans = ["free", "premium", "family", "student"]
    users = {f"u{i:03d}": plans[i % 4] for i in range(12)}
    first = dt.datetime(2026, 9, 26, tzinfo=UTC)
    lengths = [29_999, 30_000, 30_001, 1, 0, 12_345, 45_000, 180_000, 240_000, 31_000]
    plays: list[Play] = []
    for d in range(11):
        day = first + dt.timedelta(days=d)
        for i in range(rng.randint(25, 40)):
            if i == 0:
                at = day
            elif i == 1:
                at = day + dt.timedelta(days=1) - dt.timedelta(milliseconds=1)
            else:
                at = day + dt.timedelta(milliseconds=rng.randrange(86_400_000))
            plays.append(Play(
                event_id=f"ev-{d:02d}-{i:03d}",
                user_id=rng.choice(sorted(users)),
                track_id=rng.choice(sorted(tracks)[: 3 + d % 6]),
                started_at=at,
                ms_played=rng.choice(lengths) if rng.random() < 0.5 else rng.randrange(0, 300_000),
                country=rng.choice(["CD", "CD", "CM", "NG"]),
                platform=rng.choice(PLATFORMS),
                source=rng.choice(SOURCES),
                saved=rng.random() < 0.2,
                skipped=rng.random() < 0.3,
            ))  # fmt: skip
    empty_day = (first + dt.timedelta(days=4)).date()
    flagged = {p.event_id for p in plays if p.day != empty_day and rng.random() < 0.06}
    flagged.add(next(p.event_id for p in plays if p.day == first.date() and p.ms_played >= 30_000))
    lake = HandmadeLake(root, plays=plays, flagged=flagged, tracks=tracks, users=users)
    twice = {min(flagged)}
    write_lake(lake, twice=twice)
    return lake
