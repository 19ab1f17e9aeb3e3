"""The Great Expectations suites on hand-made frames: each money defect blocks on its own, warnings never do.

Every test plants one defect in an otherwise good frame and checks that exactly
the expectation guarding it fails, with the right blocking tag. GX is imported
once per session (a few seconds); each validation then takes tens of ms.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from pipelines.data_quality import (
    SuiteReport,
    join_layer_totals,
    reports_markdown,
    validate_daily_artist_stats,
    validate_daily_track_stats,
    validate_events,
    validate_reconciliation,
)
from pipelines.event_contract import EVENT_SCHEMA

D = dt.date(2026, 9, 10)
UTC = dt.UTC
TRACKS = {"TZ6DJ2100001", "TZ6DJ2100002", "TZ6DJ2100003"}


def _events(n: int = 30, **column_overrides: dict[int, Any]) -> pa.Table:
    """``n`` good plays of day D; ``column_overrides`` maps a column to {row: value} defects."""
    rows = [
        {
            "event_id": f"ev{i:05d}",
            "user_id": f"u{i % 7:07d}",
            "track_id": sorted(TRACKS)[i % 3],
            "started_at": dt.datetime(D.year, D.month, D.day, tzinfo=UTC) + dt.timedelta(minutes=37 * i),
            "ms_played": 1_000 * (i + 1),
            "country": ("CD", "FR", "BE")[i % 3],
            "platform": ("android", "ios", "web")[i % 3],
            "source": ("search", "playlist", "algorithmic", "radio")[i % 4],
            "saved": i % 5 == 0,
            "skipped": i % 4 == 0,
        }
        for i in range(n)
    ]
    for column, changes in column_overrides.items():
        for i, value in changes.items():
            rows[i][column] = value
    loose = pa.schema([f.with_nullable(True) for f in EVENT_SCHEMA])
    return pa.Table.from_pylist(rows, schema=loose)


def _failed(report: SuiteReport) -> dict[tuple[str, tuple[str, ...]], bool]:
    """Failed expectations as (type, columns) -> blocking."""
    return {(r.expectation, r.columns): r.blocking for r in report.results if not r.success}


# ----------------------------------------------------------------------------- events


def test_a_good_day_passes_every_expectation() -> None:
    report = validate_events(_events(), D, TRACKS)
    assert report.success and report.blocking_success
    assert report.rows == 30
    kinds = {r.expectation for r in report.results}
    assert {"expect_column_values_to_be_unique", "expect_column_values_to_be_in_set",
            "expect_column_values_to_match_regex", "expect_table_row_count_to_be_between"} <= kinds  # fmt: skip
    assert sum(r.blocking for r in report.results) == 7  # the money expectations


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ({"event_id": {7: "ev00003"}}, ("expect_column_values_to_be_unique", ("event_id",))),
        ({"ms_played": {4: -1}}, ("expect_column_values_to_be_between", ("ms_played",))),
        ({"track_id": {2: "XX0000000000"}}, ("expect_column_values_to_be_null", ("track_id",))),
        ({"track_id": {2: None}}, ("expect_column_values_to_not_be_null", ("track_id",))),
        ({"event_id": {2: None}}, ("expect_column_values_to_not_be_null", ("event_id",))),
        ({"started_at": {5: dt.datetime(2026, 9, 11, tzinfo=UTC)}},
         ("expect_column_values_to_be_between", ("started_at",))),
    ],
)  # fmt: skip
def test_each_money_defect_fails_its_blocking_expectation_alone(defect: dict, expected: tuple) -> None:
    report = validate_events(_events(**defect), D, TRACKS)
    assert _failed(report) == {expected: True}
    assert not report.blocking_success
    (failure,) = report.blocking_failures()
    assert failure.unexpected_count in (1, 2)  # a duplicate counts both copies


def test_a_duplicated_event_id_names_the_offending_value() -> None:
    report = validate_events(_events(event_id={7: "ev00003"}), D, TRACKS)
    (failure,) = report.blocking_failures()
    assert failure.unexpected_count == 2  # both copies are unexpected
    assert set(failure.partial_unexpected) == {"ev00003"}


@pytest.mark.parametrize(
    ("defect", "column"),
    [
        ({"country": {1: "cd"}}, "country"),
        ({"platform": {1: "smart-fridge"}}, "platform"),
        ({"source": {1: "telepathy"}}, "source"),
        ({"ms_played": {1: 86_400_001}}, "ms_played"),
        ({"user_id": {1: None}}, "user_id"),
    ],
)
def test_warnings_do_not_block(defect: dict, column: str) -> None:
    report = validate_events(_events(**defect), D, TRACKS)
    assert not report.success
    assert report.blocking_success
    assert [r.columns for r in report.warning_failures()] == [(column,)]


def test_an_empty_day_is_a_warning_only() -> None:
    report = validate_events(_events(0), D, TRACKS)
    assert report.blocking_success and not report.success
    assert [r.expectation for r in report.warning_failures()] == ["expect_table_row_count_to_be_between"]


def test_without_a_catalog_the_unknown_track_expectation_is_left_out() -> None:
    report = validate_events(_events(track_id={2: "XX0000000000"}), D, None)
    assert report.success
    assert "expect_column_values_to_be_null" not in {r.expectation for r in report.results if r.blocking}


def test_a_pandas_frame_and_an_arrow_table_give_the_same_report() -> None:
    table = _events(ms_played={3: -5})
    assert validate_events(table.to_pandas(), D, TRACKS).to_metadata() == validate_events(table, D, TRACKS).to_metadata()


def test_several_defects_are_all_reported_and_the_report_renders() -> None:
    report = validate_events(_events(ms_played={1: -3, 2: -4}, track_id={5: "XX0000000000"}, country={6: "??"}), D, TRACKS)
    assert len(report.blocking_failures()) == 2 and len(report.warning_failures()) == 1
    meta = report.to_metadata()
    json.dumps(meta)  # JSON-able as it is
    assert meta["blocking_failed"] == 2 and meta["failed"] == 3
    negative = next(f for f in meta["failures"] if f["columns"] == ["ms_played"])
    assert negative["unexpected_count"] == 2 and sorted(negative["partial_unexpected"]) == [-4, -3]
    unknown = next(f for f in meta["failures"] if f["columns"] == ["track_id"])
    assert unknown["partial_unexpected"] == ["XX0000000000"]  # the offending track, by id
    md = report.to_markdown()
    assert "FAILED (blocking)" in md and "| FAIL | ms_played is not negative | ms_played | blocking |" in md
    money = report.select(blocking=True)
    assert not money.success and all(r.blocking for r in money.results)
    assert not report.select(blocking=False).success


def test_reports_markdown_names_the_failing_days() -> None:
    good = validate_events(_events(), D, TRACKS)
    bad = validate_events(_events(ms_played={1: -1}), D, TRACKS)
    md = reports_markdown({"2026-09-10": good, "2026-09-11": bad}, title="events")
    assert "2 checked, 1 failing" in md and "Failing: 2026-09-11" in md


# ----------------------------------------------------------------------------- marts


def _track_stats(**changes: dict[int, Any]) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "day": [D] * 4,
            "track_id": ["TZ6DJ2100001", "TZ6DJ2100001", "TZ6DJ2100002", "TZ6DJ2100003"],
            "country": ["CD", "FR", "CD", "CD"],
            "plays": [10, 5, 3, 0],
            "streams": [8, 5, 1, 0],
            "unique_listeners": [4, 2, 3, 0],
            "skips": [2, 0, 2, 0],
            "saves": [1, 0, 0, 0],
            "ms_played": [900_000, 400_000, 90_000, 0],
            "flagged_plays": [0, 1, 0, 0],
        }
    )
    for column, rows in changes.items():
        for i, value in rows.items():
            df.loc[i, column] = value
    return df


def test_a_good_daily_track_stats_frame_passes() -> None:
    report = validate_daily_track_stats(_track_stats(), known_tracks=TRACKS)
    assert report.success, report.to_markdown()
    assert report.suite == "marts.daily_track_stats"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"country": {1: "CD"}}, ("expect_compound_columns_to_be_unique", ("day", "track_id", "country"))),
        ({"streams": {2: 4}}, ("expect_column_pair_values_a_to_be_greater_than_b", ("plays", "streams"))),
        ({"ms_played": {0: -1}}, ("expect_column_values_to_be_between", ("ms_played",))),
        ({"track_id": {3: "XX0000000000"}}, ("expect_column_values_to_be_null", ("track_id",))),
    ],
)
def test_money_defects_in_the_track_mart_block(changes: dict, expected: tuple) -> None:
    report = validate_daily_track_stats(_track_stats(**changes), known_tracks=TRACKS)
    assert _failed(report) == {expected: True}


def test_listeners_or_skips_above_plays_only_warn() -> None:
    report = validate_daily_track_stats(_track_stats(unique_listeners={2: 9}, skips={1: 6}))
    assert report.blocking_success and not report.success
    assert {r.columns for r in report.warning_failures()} == {("plays", "unique_listeners"), ("plays", "skips")}


def test_mart_column_names_are_parameters_and_a_missing_column_fails_loudly() -> None:
    df = _track_stats().rename(columns={"day": "date", "streams": "qualified_streams"})
    renamed = validate_daily_track_stats(df, keys=("date", "track_id", "country"), streams="qualified_streams")
    assert renamed.success, renamed.to_markdown()
    wrong = validate_daily_track_stats(df)  # default names: 'day' and 'streams' are not there
    assert not wrong.blocking_success
    assert any(r.error for r in wrong.blocking_failures())


def test_the_artist_mart_suite() -> None:
    df = pd.DataFrame({"day": [D, D], "artist_id": ["a1", "a1"], "country": ["CD", "FR"], "plays": [3, 2],
                       "streams": [2, 2], "unique_listeners": [2, 1], "ms_played": [10, 20]})  # fmt: skip
    assert validate_daily_artist_stats(df).success
    df.loc[1, "country"] = "CD"
    assert not validate_daily_artist_stats(df).blocking_success


# ----------------------------------------------------------------------------- reconciliation


def test_layers_that_agree_reconcile() -> None:
    events = pd.DataFrame({"day": ["2026-09-10", "2026-09-11"], "qualified_streams": [120, 80]})
    mart = pd.DataFrame({"day": ["2026-09-10", "2026-09-11"], "streams": [120, 80]})
    assert validate_reconciliation(join_layer_totals({"events": events, "mart": mart})).success


def test_a_day_the_mart_lost_or_miscounted_fails_reconciliation() -> None:
    events = pd.DataFrame({"day": ["2026-09-10", "2026-09-11", "2026-09-12"], "qualified_streams": [120, 80, 7]})
    mart = pd.DataFrame({"day": ["2026-09-10", "2026-09-11"], "streams": [120, 81]})
    totals = join_layer_totals({"events": events, "mart": mart})
    assert list(totals["day"]) == ["2026-09-10", "2026-09-11", "2026-09-12"]
    report = validate_reconciliation(totals)
    (failure,) = report.blocking_failures()
    assert failure.columns == ("events_qualified_streams", "mart_streams")
    assert failure.unexpected_count == 2  # the miscounted day and the lost one


def test_reconciliation_pairs_are_parameters() -> None:
    totals = pd.DataFrame({"date": ["d1"], "a": [1], "b": [1], "c": [2], "d": [3]})
    report = validate_reconciliation(totals, pairs=[("a", "b"), ("c", "d")], key="date")
    assert [r.columns for r in report.blocking_failures()] == [("c", "d")]
