"""Loading landed events into ``listening_events`` one play day at a time.

Most tests hand-build a few tiny landing files in a temporary lake, so every
defect (duplicates, lateness, broken batches, bad rows) is placed deliberately
and checked exactly. One module-scoped sample world (events only, ~6 s) checks
the loader against what the generator really delivers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.event_loading import (
    REJECTED_SCHEMA,
    DayLoad,
    EventLoadError,
    Reason,
    events_prefix,
    find_too_late,
    load_known_tracks,
    load_play_day,
    publish_play_day,
    rejected_prefix,
    schema_problem,
)
from pipelines.lake import Lake
from pipelines.event_contract import EVENT_SCHEMA

D = dt.date(2026, 9, 10)
UTC = dt.UTC


def _event(event_id: str, day: dt.date = D, hour: int = 12, **overrides: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "user_id": "u0000001",
        "track_id": "TZ6DJ2100001",
        "started_at": dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
        "ms_played": 40_000,
        "country": "CD",
        "platform": "android",
        "source": "search",
        "saved": False,
        "skipped": False,
    }
    row.update(overrides)
    return row


def _land(
    root: Path, arrival: dt.date, name: str, rows: list[dict[str, Any]], schema: pa.Schema = EVENT_SCHEMA
) -> str:
    """Write one landing file; nullable copy of the schema so tests can plant nulls."""
    folder = root / "landing" / "events" / f"date={arrival.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    loose = pa.schema([f.with_nullable(True) for f in schema])
    pq.write_table(pa.Table.from_pylist(rows, schema=loose), folder / name)
    return f"landing/events/date={arrival.isoformat()}/{name}"


def _day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path))


def _root(lake: Lake) -> Path:
    return Path(lake.root_url)


def _ids(load: DayLoad) -> list[str]:
    return load.events["event_id"].to_pylist()


# ----------------------------------------------------------------------------- dedupe


def test_identical_duplicate_across_batch_and_redelivery_loads_once(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("e1"), _event("e2", hour=13)])
    _land(_root(lake), _day(1), "redelivery-from-20260910.parquet", [_event("e1")])

    load = load_play_day(lake, D)

    assert _ids(load) == ["e1", "e2"]
    assert load.duplicates_dropped == 1
    assert load.rejected.num_rows == 0
    assert load.late_loaded == 0  # the kept copy is the on-time one


def test_conflicting_duplicate_keeps_earliest_arrival_and_reports_the_other(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("e1", ms_played=1_000)])
    late = _land(_root(lake), _day(2), "late-from-20260910.parquet", [_event("e1", ms_played=2_000)])

    load = load_play_day(lake, D)

    assert load.events.to_pylist()[0]["ms_played"] == 1_000
    assert load.duplicates_dropped == 0
    [rejected] = load.rejected.to_pylist()
    assert rejected["reason"] == Reason.DUPLICATE_CONFLICT
    assert rejected["source_file"] == late
    assert rejected["ms_played"] == 2_000


def test_conflict_within_one_arrival_day_is_broken_by_file_name(lake: Lake) -> None:
    _land(_root(lake), _day(1), "redelivery-from-20260910.parquet", [_event("e1", country="KE")])
    _land(_root(lake), _day(1), "late-from-20260910.parquet", [_event("e1", country="NG")])

    load = load_play_day(lake, D)

    assert load.events["country"].to_pylist() == ["NG"]  # "late-..." sorts before "redelivery-..."
    assert load.rejected["reason"].to_pylist() == [Reason.DUPLICATE_CONFLICT]
    assert load.late_loaded == 1


# ----------------------------------------------------------------------------- lateness


def test_play_arriving_two_days_late_is_loaded_into_its_play_day(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("on-time")])
    _land(_root(lake), _day(2), "late-from-20260910.parquet", [_event("late", hour=3)])

    load = load_play_day(lake, D)

    assert _ids(load) == ["late", "on-time"]  # sorted by started_at, not by arrival
    assert load.late_loaded == 1
    # The arrival day's own load does not take it: it is not a play of that day.
    assert load_play_day(lake, _day(2)).events.num_rows == 0


def test_window_boundary_exactly_seven_days_late_loads_eight_does_not(lake: Lake) -> None:
    _land(_root(lake), _day(7), "late-from-20260910.parquet", [_event("seven")])
    _land(_root(lake), _day(8), "late-from-20260910.parquet", [_event("eight")])

    load = load_play_day(lake, D)

    assert _ids(load) == ["seven"]
    assert load.too_late == 0  # D's own arrival partition holds no stragglers
    arrival_side = load_play_day(lake, _day(8))
    assert arrival_side.too_late == 1
    assert arrival_side.rejected["event_id"].to_pylist() == ["eight"]
    assert arrival_side.rejected["reason"].to_pylist() == [Reason.TOO_LATE]


def test_too_late_plays_are_reported_not_loaded(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("on-time")])
    path = _land(_root(lake), _day(9), "late-from-20260910.parquet", [_event("nine"), _event("nine-b")])
    _land(_root(lake), _day(10), "redelivery-from-20260910.parquet", [_event("nine")])

    assert _ids(load_play_day(lake, D)) == ["on-time"]
    too_late = find_too_late(lake, _day(9))
    assert too_late.schema == REJECTED_SCHEMA
    assert sorted(too_late["event_id"].to_pylist()) == ["nine", "nine-b"]
    assert set(too_late["source_file"].to_pylist()) == {path}
    assert load_play_day(lake, _day(9)).too_late == 2
    assert load_play_day(lake, _day(10)).too_late == 1  # the redelivery, seen on its own arrival day


def test_shorter_lateness_window_closes_the_day_earlier(lake: Lake) -> None:
    _land(_root(lake), _day(2), "late-from-20260910.parquet", [_event("two")])

    assert load_play_day(lake, D, lateness_days=1).events.num_rows == 0
    assert find_too_late(lake, _day(2), lateness_days=1)["event_id"].to_pylist() == ["two"]


# ----------------------------------------------------------------------------- broken files


def test_schema_broken_files_are_rejected_whole_and_the_rest_loads(lake: Lake) -> None:
    good = _land(_root(lake), D, "batch-00.parquet", [_event("good")])
    wrong_type = pa.schema([f if f.name != "ms_played" else pa.field("ms_played", pa.string()) for f in EVENT_SCHEMA])
    typed = _land(_root(lake), D, "batch-06.parquet", [_event("t", ms_played="40000")], wrong_type)
    missing = pa.schema([f for f in EVENT_SCHEMA if f.name != "country"])
    row = _event("m")
    del row["country"]
    absent = _land(_root(lake), _day(1), "late-from-20260910.parquet", [row], missing)
    garbage = _root(lake) / "landing/events/date=2026-09-10/batch-12.parquet"
    garbage.write_bytes(b"not parquet at all")

    load = load_play_day(lake, D)

    assert _ids(load) == ["good"]
    assert load.files_read == (good,)
    assert set(load.files_rejected) == {typed, absent, "landing/events/date=2026-09-10/batch-12.parquet"}
    assert typed in load.files_rejected[typed] and "'ms_played'" in load.files_rejected[typed]
    assert "string" in load.files_rejected[typed]
    assert absent in load.files_rejected[absent]
    assert "missing column 'country'" in load.files_rejected[absent]
    assert "not a readable Parquet file" in load.files_rejected["landing/events/date=2026-09-10/batch-12.parquet"]


def test_schema_problem_accepts_harmless_width_changes_but_not_naive_timestamps() -> None:
    wide = pa.schema(
        [
            pa.field(f.name, {"ms_played": pa.int64(), "event_id": pa.large_string()}.get(f.name, f.type))
            for f in EVENT_SCHEMA
        ]
        + [pa.field("extra", pa.int8())]
    )
    assert schema_problem(wide) is None
    naive = pa.schema([pa.field(f.name, pa.timestamp("ms") if f.name == "started_at" else f.type) for f in EVENT_SCHEMA])
    assert "'started_at'" in (schema_problem(naive) or "")


# ----------------------------------------------------------------------------- row reasons


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"user_id": None}, Reason.NULL_FIELD),
        ({"saved": None}, Reason.NULL_FIELD),
        ({"ms_played": -1}, Reason.MS_PLAYED_OUT_OF_RANGE),
        ({"ms_played": 86_400_001}, Reason.MS_PLAYED_OUT_OF_RANGE),
        ({"source": "telepathy"}, Reason.UNKNOWN_SOURCE),
        ({"platform": "fridge"}, Reason.UNKNOWN_PLATFORM),
        ({"country": "cd"}, Reason.BAD_COUNTRY),
        ({"country": "COD"}, Reason.BAD_COUNTRY),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason_and_their_file(
    lake: Lake, overrides: dict[str, Any], reason: str
) -> None:
    path = _land(_root(lake), D, "batch-00.parquet", [_event("ok"), _event("bad", hour=13, **overrides)])

    load = load_play_day(lake, D)

    assert _ids(load) == ["ok"]
    [rejected] = load.rejected.to_pylist()
    assert (rejected["event_id"], rejected["reason"], rejected["source_file"]) == ("bad", reason, path)


def test_boundary_values_of_ms_played_are_valid(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("zero", ms_played=0), _event("day", hour=13, ms_played=86_400_000)])
    assert load_play_day(lake, D).events.num_rows == 2


def test_null_and_future_started_at_are_reported_by_their_arrival_day(lake: Lake) -> None:
    _land(
        _root(lake),
        D,
        "batch-00.parquet",
        [_event("ok"), _event("no-time", started_at=None), _event("future", day=_day(1))],
    )

    load = load_play_day(lake, D)

    assert _ids(load) == ["ok"]
    reasons = dict(zip(load.rejected["event_id"].to_pylist(), load.rejected["reason"].to_pylist(), strict=True))
    assert reasons == {"no-time": Reason.NULL_FIELD, "future": Reason.STARTED_AFTER_ARRIVAL}
    # ...and the next play day neither loads nor re-reports the future-dated row.
    nxt = load_play_day(lake, _day(1))
    assert nxt.events.num_rows == 0 and nxt.rejected.num_rows == 0


def test_unknown_tracks_are_rejected_only_when_known_tracks_are_given(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("a"), _event("b", hour=13, track_id="ZZ0000000000")])

    assert load_play_day(lake, D).events.num_rows == 2
    load = load_play_day(lake, D, known_tracks={"TZ6DJ2100001"})
    assert _ids(load) == ["a"]
    assert load.rejected["reason"].to_pylist() == [Reason.UNKNOWN_TRACK]
    assert load_play_day(lake, D, known_tracks=set()).events.num_rows == 0


def test_a_rejected_copy_does_not_hide_a_valid_one(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("e1", country=None)])
    _land(_root(lake), _day(1), "redelivery-from-20260910.parquet", [_event("e1")])

    load = load_play_day(lake, D)

    assert _ids(load) == ["e1"]
    assert load.rejected["reason"].to_pylist() == [Reason.NULL_FIELD]


# ----------------------------------------------------------------------------- edges and API


def test_empty_window_gives_empty_typed_tables(lake: Lake) -> None:
    load = load_play_day(lake, D)
    assert load.events.schema == EVENT_SCHEMA and load.events.num_rows == 0
    assert load.rejected.schema == REJECTED_SCHEMA
    assert json.loads(load.to_json())["events"] == 0


def test_bad_arguments_raise_clear_errors(lake: Lake) -> None:
    with pytest.raises(EventLoadError, match="lateness_days"):
        load_play_day(lake, D, lateness_days=-1)
    with pytest.raises(EventLoadError, match="datetime.date"):
        load_play_day(lake, dt.datetime(2026, 9, 10))  # type: ignore[arg-type]
    with pytest.raises(EventLoadError, match="catalog reference"):
        load_known_tracks(lake)


def test_caller_connection_is_used_and_left_clean(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("e1")])
    con = duckdb.connect()
    before = con.sql("SELECT count(*) FROM duckdb_tables()").fetchall()
    assert load_play_day(lake, D, con=con).events.num_rows == 1
    assert con.sql("SELECT count(*) FROM duckdb_tables()").fetchall() == before
    con.close()


def test_summary_json_is_deterministic(lake: Lake) -> None:
    _land(_root(lake), D, "batch-00.parquet", [_event("e1"), _event("bad", source="x")])
    _land(_root(lake), _day(1), "redelivery-from-20260910.parquet", [_event("e1")])
    summary = json.loads(load_play_day(lake, D).to_json())
    assert summary == {
        "day": "2026-09-10",
        "lateness_days": 7,
        "events": 1,
        "rejected": 1,
        "rejected_by_reason": {Reason.UNKNOWN_SOURCE: 1},
        "files_read": 2,
        "files_rejected": {},
        "duplicates_dropped": 1,
        "late_loaded": 0,
        "too_late": 0,
    }
    assert load_play_day(lake, D).to_json() == load_play_day(lake, D).to_json()


# ----------------------------------------------------------------------------- publishing


def _published_bytes(lake: Lake, day: dt.date) -> dict[str, bytes]:
    out = {}
    for prefix in (events_prefix(day), rejected_prefix(day)):
        for rel in lake.walk_files(prefix, include_manifests=True):
            out[f"{prefix}/{rel}"] = lake.read_bytes(f"{prefix}/{rel}")
    return out


def test_publishing_twice_and_a_second_redelivery_give_identical_bytes(lake: Lake) -> None:
    rows = [_event(f"e{i:03d}", hour=i % 24, ms_played=1_000 * i) for i in range(200)]
    _land(_root(lake), D, "batch-00.parquet", rows + [_event("bad", country="xx")])
    _land(_root(lake), _day(1), "late-from-20260910.parquet", [_event("late", hour=5)])
    _land(_root(lake), _day(1), "redelivery-from-20260910.parquet", rows[:10])

    publish_play_day(lake, load_play_day(lake, D))
    first = _published_bytes(lake, D)
    publish_play_day(lake, load_play_day(lake, D))
    assert _published_bytes(lake, D) == first

    _land(_root(lake), _day(3), "redelivery-from-20260910.parquet", rows[5:50])  # delivered again
    again = load_play_day(lake, D)
    assert again.duplicates_dropped == 10 + 45
    publish_play_day(lake, again)
    assert _published_bytes(lake, D) == first

    assert sorted(first) == [
        "listening_events/date=2026-09-10/_manifest.json",
        "listening_events/date=2026-09-10/part-00000.parquet",
        "rejected_events/date=2026-09-10/_manifest.json",
        "rejected_events/date=2026-09-10/part-00000.parquet",
    ]
    assert lake.verify(events_prefix(D)) == [] and lake.verify(rejected_prefix(D)) == []
    published = lake.read_parquet(events_prefix(D))
    assert published.num_rows == 201
    assert lake.read_parquet(rejected_prefix(D))["reason"].to_pylist() == [Reason.BAD_COUNTRY]


# ----------------------------------------------------------------------------- the real small world


@pytest.fixture(scope="module")
def world_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The small world's catalog and landed events (seed 7), without the slow audio uploads.

    generate_world("small", 7, ...) writes the same events but takes about a minute
    because of the audio; the events and catalog steps alone take a few seconds.
    """
    from pipelines.sample_world.catalog import generate_catalog
    from pipelines.sample_world.events import generate_events
    from pipelines.sample_world.fraud import plan_fraud
    from pipelines.sample_world.scales import SCALES
    from pipelines.sample_world.users import generate_users
    from pipelines.sample_world.world import TRUTH_TRACK_COLUMNS

    scale, seed = SCALES["small"], 7
    out = tmp_path_factory.mktemp("small-world-events")
    catalog = generate_catalog(scale, seed)
    honest = generate_users(scale, seed)
    fraud = plan_fraud(scale, seed, honest, catalog.tracks, catalog.artists)
    users = pl.concat([honest, fraud.bot_users.select(honest.columns)])
    generate_events(scale, seed, catalog.tracks, users, catalog.artists, fraud, out, workers=1)
    (out / "reference" / "catalog").mkdir(parents=True)
    catalog.tracks.drop(TRUTH_TRACK_COLUMNS).write_parquet(out / "reference" / "catalog" / "tracks.parquet")
    return Lake(str(out))


def _delivered(lake: Lake) -> pl.DataFrame:
    """Every delivered row with its arrival date, file kind and lag (the loader's ground truth)."""
    root = Path(lake.root_url) / "landing" / "events"
    frames = []
    for path in sorted(root.glob("date=*/*.parquet")):
        frames.append(
            pl.read_parquet(path).with_columns(
                arrival=pl.lit(dt.date.fromisoformat(path.parent.name.removeprefix("date="))),
                kind=pl.lit(path.name.split("-")[0]),
            )
        )
    return pl.concat(frames).with_columns(play=pl.col("started_at").dt.date()).with_columns(
        lag=(pl.col("arrival") - pl.col("play")).dt.total_days()
    )


def test_three_play_days_of_the_small_world(world_lake: Lake) -> None:
    days = [dt.date(2026, 9, 10) + dt.timedelta(days=k) for k in range(3)]
    known = load_known_tracks(world_lake)
    loads = [load_play_day(world_lake, d, known_tracks=known) for d in days]
    delivered = _delivered(world_lake)
    ours = delivered.filter(pl.col("play").is_in(days))

    # total rows == distinct ids played on those days among on-time + within-window files
    in_window = ours.filter(pl.col("lag") <= 7)
    loaded_ids = [i for load in loads for i in load.events["event_id"].to_pylist()]
    assert len(loaded_ids) == in_window["event_id"].n_unique()
    assert len(loaded_ids) == len(set(loaded_ids))  # no event_id twice, across days too
    assert set(loaded_ids) == set(in_window["event_id"].to_list())

    # redelivered ids were really redelivered, and were dropped as identical copies
    redelivered = ours.filter(pl.col("kind") == "redelivery")
    assert redelivered.height > 0
    assert sum(load.duplicates_dropped for load in loads) == in_window.height - in_window["event_id"].n_unique()
    assert all(load.rejected.num_rows == 0 and not load.files_rejected for load in loads)
    first_arrival = in_window.group_by("event_id").agg(pl.col("lag").min())
    assert sum(load.late_loaded for load in loads) == first_arrival.filter(pl.col("lag") > 0).height
    for load in loads:
        assert load.events["started_at"].to_pylist() == sorted(load.events["started_at"].to_pylist())

    # the >7-day stragglers of those days are reported on their arrival days
    beyond = ours.filter(pl.col("lag") > 7)
    assert beyond.height > 0
    reported: set[str] = set()
    for arrival in beyond["arrival"].unique().sort().to_list():
        found = find_too_late(world_lake, arrival)
        assert load_play_day(world_lake, arrival).too_late == len(set(found["event_id"].to_pylist()))
        plays = [t.date() for t in found["started_at"].to_pylist()]
        reported |= {i for i, p in zip(found["event_id"].to_pylist(), plays, strict=True) if p in days}
    assert reported == set(beyond["event_id"].to_list())
    assert not reported & set(loaded_ids)
