"""audio.feature_accuracy: Gouyon tempo accuracies, MIREX key score, and the evaluation report."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import polars as pl
import pytest

from audio.feature_accuracy import (
    AccuracyReport,
    evaluate,
    key_score,
    normalise_key_label,
    tempo_accuracy1,
    tempo_accuracy2,
)

# -- tempo ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("true_bpm", "est_bpm", "acc1", "acc2"),
    [
        (120.0, 120.0, True, True),  # exact
        (100.0, 103.9, True, True),  # 3.9 % fast
        (100.0, 96.1, True, True),  # 3.9 % slow
        (100.0, 104.1, False, False),  # 4.1 % fast
        (100.0, 95.9, False, False),  # 4.1 % slow
        (60.0, 120.0, False, True),  # double
        (60.0, 180.0, False, True),  # triple
        (120.0, 60.0, False, True),  # half
        (180.0, 60.0, False, True),  # third
        (60.0, 124.0, False, True),  # double, 3.3 % off the doubled tempo
        (60.0, 125.0, False, False),  # double, 4.2 % off the doubled tempo
        (100.0, 150.0, False, False),  # 3/2 is not an allowed level
        (100.0, 400.0, False, False),  # 4x is not either
        (100.0, 0.0, False, False),  # an estimator that found no beat
    ],
)
def test_tempo_accuracies_follow_gouyon(
    true_bpm: float, est_bpm: float, acc1: bool, acc2: bool
) -> None:
    assert tempo_accuracy1(true_bpm, est_bpm) is acc1
    assert tempo_accuracy2(true_bpm, est_bpm) is acc2


def test_tempo_tolerance_is_configurable() -> None:
    assert tempo_accuracy1(100.0, 107.0, tol=0.08)
    assert not tempo_accuracy1(100.0, 107.0)
    assert tempo_accuracy2(50.0, 107.0, tol=0.08)


def test_accuracy1_agrees_with_mir_eval_on_random_pairs() -> None:
    rng = np.random.default_rng(7)
    truths = rng.uniform(40.0, 220.0, 2000)
    # Half the estimates near the truth (straddling the 4 % edge), half anywhere.
    near = truths * rng.uniform(0.9, 1.1, 2000)
    anywhere = rng.uniform(30.0, 300.0, 2000)
    estimates = np.where(np.arange(2000) % 2 == 0, near, anywhere)
    hits = 0
    for t, e in zip(truths, estimates, strict=True):
        _, one_correct, _ = mir_eval.tempo.detection(
            np.array([t, t]), 0.5, np.array([e, e]), tol=0.04
        )
        assert tempo_accuracy1(t, e) is one_correct, (t, e)
        hits += one_correct
    assert 200 < hits < 1800  # both outcomes were exercised


def test_accuracy2_is_accuracy1_at_some_metrical_level() -> None:
    rng = np.random.default_rng(11)
    for t, e in rng.uniform(40.0, 220.0, (500, 2)):
        levels = [t, 2 * t, 3 * t, t / 2, t / 3]
        expected = any(
            mir_eval.tempo.detection(np.array([lv, lv]), 0.5, np.array([e, e]), tol=0.04)[1]
            for lv in levels
        )
        assert tempo_accuracy2(t, e) is expected


@pytest.mark.parametrize(
    ("true_bpm", "est_bpm", "tol", "field"),
    [
        (0.0, 120.0, 0.04, "true_bpm"),
        (-5.0, 120.0, 0.04, "true_bpm"),
        (float("nan"), 120.0, 0.04, "true_bpm"),
        (120.0, float("nan"), 0.04, "est_bpm"),
        (120.0, -1.0, 0.04, "est_bpm"),
        (120.0, 120.0, 0.0, "tol"),
        (120.0, 120.0, 1.5, "tol"),
    ],
)
def test_tempo_rejects_meaningless_input(
    true_bpm: float, est_bpm: float, tol: float, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        tempo_accuracy1(true_bpm, est_bpm, tol)
    with pytest.raises(ValueError, match=field):
        tempo_accuracy2(true_bpm, est_bpm, tol)


# -- key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("truth", "estimate", "score"),
    [
        ("C major", "C major", 1.0),
        ("G major", "D major", 0.5),  # a fifth above
        ("G major", "C major", 0.0),  # a fifth below is not credited by MIREX
        ("A minor", "E minor", 0.5),
        ("C major", "A minor", 0.3),  # relative minor
        ("A minor", "C major", 0.3),  # relative major
        ("C major", "C minor", 0.2),  # parallel
        ("Eb minor", "D# minor", 1.0),  # enharmonic spelling
        ("D# minor", "Eb minor", 1.0),
        ("Gb major", "F# major", 1.0),
        ("Cb major", "B major", 1.0),  # a spelling mir_eval itself rejects
        ("C major", "F# major", 0.0),
        ("eb MINOR", "E\u266d minor", 1.0),  # case and the flat sign
    ],
)
def test_key_score_uses_mirex_weights(truth: str, estimate: str, score: float) -> None:
    assert key_score(truth, estimate) == pytest.approx(score)


def test_key_score_matches_mir_eval_over_all_pairs() -> None:
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    labels = [f"{n} {m}" for n in names for m in ("major", "minor")]
    for truth in labels:
        for estimate in labels:
            assert key_score(truth, estimate) == mir_eval.key.weighted_score(truth, estimate)


def test_key_labels_are_normalised_for_mir_eval() -> None:
    assert normalise_key_label("D# minor") == "Eb minor"
    assert normalise_key_label("c# Maj") == "C# major"
    assert normalise_key_label("  A   min ") == "A minor"


@pytest.mark.parametrize(
    "label", ["H major", "C dorian", "Cmajor", "C major minor", "", "X", "C## major x", "C+ major"]
)
def test_key_score_rejects_unparseable_labels(label: str) -> None:
    with pytest.raises(ValueError, match="key label"):
        key_score(label, "C major")
    with pytest.raises(ValueError, match="key label"):
        key_score("C major", label)


def test_key_score_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="key label"):
        key_score(None, "C major")  # type: ignore[arg-type]


# -- evaluate ---------------------------------------------------------------

TRUTH = [
    {"isrc": "CD0000000001", "bpm": 120.0, "key": "G major"},  # all right
    {"isrc": "CD0000000002", "bpm": 60.0, "key": "A minor"},  # double tempo, relative key
    {"isrc": "CD0000000003", "bpm": 170.0, "key": "Eb minor"},  # 4.1 % off, enharmonic key
    {"isrc": "CD0000000004", "bpm": 95.0, "key": "C major"},  # no estimate at all
    {"isrc": "CD0000000005", "bpm": None, "key": None},  # sleep sounds: excluded
    {"isrc": "CD0000000006", "bpm": float("nan"), "key": None},  # NaN null: excluded
]
ESTIMATES = [
    {"isrc": "CD0000000001", "bpm": 120.5, "key": "G", "scale": "major", "key_label": "G major"},
    {"isrc": "CD0000000002", "bpm": 120.0, "key": "C", "scale": "major", "key_label": None},
    {"isrc": "CD0000000003", "bpm": 176.97, "key": "D#", "scale": "minor"},
    {"isrc": "CD0000000005", "bpm": 0.0, "key": None, "scale": None},
    {"isrc": "ZZ0000000009", "bpm": 100.0, "key_label": "C major"},  # not in the truth
]


def _check_small_report(report: AccuracyReport) -> None:
    assert report.tracks == 4
    assert report.tempo_tracks == 4
    assert report.key_tracks == 4
    assert report.excluded == 2
    assert report.missing_estimates == 1
    assert report.unmatched_estimates == 1
    assert report.accuracy1 == pytest.approx(1 / 4)
    assert report.accuracy2 == pytest.approx(2 / 4)
    assert report.key_weighted == pytest.approx((1.0 + 0.3 + 1.0 + 0.0) / 4)
    assert report.key_exact == pytest.approx(2 / 4)
    assert report.by_tempo_band["<80"] == {"tracks": 1, "accuracy1": 0.0, "accuracy2": 1.0}
    assert report.by_tempo_band["80-120"] == {"tracks": 1, "accuracy1": 0.0, "accuracy2": 0.0}
    assert report.by_tempo_band["120-160"] == {"tracks": 1, "accuracy1": 1.0, "accuracy2": 1.0}
    assert report.by_tempo_band[">=160"] == {"tracks": 1, "accuracy1": 0.0, "accuracy2": 0.0}
    failures = {f["isrc"]: f for f in report.failures}
    assert set(failures) == {"CD0000000002", "CD0000000003", "CD0000000004"}
    assert failures["CD0000000002"]["reason"] == "tempo+key"
    assert failures["CD0000000002"]["accuracy2"] is True
    assert failures["CD0000000002"]["est_key"] == "C major"
    assert failures["CD0000000003"]["reason"] == "tempo"
    assert failures["CD0000000003"]["est_key"] == "Eb minor"
    missing = failures["CD0000000004"]
    assert missing["reason"] == "missing estimate"
    assert missing["true_bpm"] == 95.0 and missing["est_bpm"] is None
    assert missing["key_score"] == 0.0


def test_evaluate_on_dict_rows() -> None:
    _check_small_report(evaluate(TRUTH, ESTIMATES))


def test_evaluate_on_polars_frames() -> None:
    truth = pl.DataFrame(TRUTH)
    estimates = pl.DataFrame(ESTIMATES)
    _check_small_report(evaluate(truth, estimates))


def test_evaluate_uses_the_given_id_column() -> None:
    truth = [{"track_id": 1, "bpm": 100.0, "key": "C major"}]
    estimates = [{"track_id": 1, "bpm": 100.0, "key_label": "C major"}]
    report = evaluate(truth, estimates, id_column="track_id")
    assert report.accuracy1 == 1.0 and report.key_exact == 1.0 and report.failures == []
    with pytest.raises(ValueError, match="'isrc'"):
        evaluate(truth, estimates)


def test_evaluate_keeps_tempo_and_key_denominators_apart() -> None:
    truth = [
        {"isrc": "a", "bpm": 100.0, "key": None},  # drum track: tempo only
        {"isrc": "b", "bpm": None, "key": "C major"},  # rubato piano: key only
    ]
    estimates = [
        {"isrc": "a", "bpm": 100.0, "key_label": "D major"},
        {"isrc": "b", "bpm": 77.0, "key_label": "C major"},
    ]
    report = evaluate(truth, estimates)
    assert (report.tracks, report.tempo_tracks, report.key_tracks) == (2, 1, 1)
    assert report.accuracy1 == 1.0 and report.key_exact == 1.0
    assert report.failures == []


def test_evaluate_counts_a_missing_estimate_bpm_as_wrong() -> None:
    truth = [{"isrc": "a", "bpm": 100.0, "key": "C major"}]
    report = evaluate(truth, [{"isrc": "a", "bpm": None, "key_label": None}])
    assert report.accuracy1 == 0.0 and report.accuracy2 == 0.0 and report.key_weighted == 0.0
    assert report.failures[0]["reason"] == "tempo+key"


def test_evaluate_with_no_key_annotations_reports_none() -> None:
    report = evaluate([{"isrc": "a", "bpm": 100.0}], [{"isrc": "a", "bpm": 100.0}])
    assert report.key_weighted is None and report.key_exact is None
    assert report.by_tempo_band["<80"] == {"tracks": 0, "accuracy1": None, "accuracy2": None}
    assert "| Key, exact | - | 0 |" in report.to_markdown()


@pytest.mark.parametrize(
    ("truth", "estimates", "match"),
    [
        ([{"isrc": "a", "bpm": None, "key": None}], [], "no ground-truth row"),
        ([{"isrc": "a", "bpm": 90.0}] * 2, [], "truth has isrc='a' more than once"),
        (
            [{"isrc": "a", "bpm": 90.0}],
            [{"isrc": "a", "bpm": 90.0}] * 2,
            "estimates has isrc='a' more than once",
        ),
        ([{"isrc": "a", "bpm": 90.0, "key": "C lydian"}], [], "truth key for isrc='a'"),
        (
            [{"isrc": "a", "bpm": 90.0, "key": "C major"}],
            [{"isrc": "a", "bpm": 90.0, "key_label": "Q major"}],
            "estimated key for isrc='a'",
        ),
        ([{"isrc": "a", "bpm": -90.0}], [], "truth bpm for isrc='a'"),
    ],
)
def test_evaluate_rejects_bad_input(truth: list[dict], estimates: list[dict], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate(truth, estimates)


def test_evaluate_rejects_other_containers() -> None:
    with pytest.raises(TypeError, match="truth must be a list of dicts"):
        evaluate("not rows", [])  # type: ignore[arg-type]


def test_report_serialises_to_json() -> None:
    report = evaluate(TRUTH, ESTIMATES)
    data = json.loads(report.to_json())
    assert data["accuracy1"] == 0.25
    assert data["excluded"] == 2
    assert data["by_tempo_band"]["<80"]["accuracy2"] == 1.0
    assert len(data["failures"]) == 3
    assert report.to_json() == evaluate(TRUTH, ESTIMATES).to_json()  # stable


def test_markdown_contains_the_figures() -> None:
    md = evaluate(TRUTH, ESTIMATES).to_markdown()
    assert "| Accuracy1 (\u00b14%) | 25.0% | 4 |" in md
    assert "| Accuracy2 (\u00b14%, x2 x3 x1/2 x1/3) | 50.0% | 4 |" in md
    assert "| Key, MIREX weighted | 0.575 | 4 |" in md
    assert "| Key, exact | 50.0% | 4 |" in md
    assert "| <80 | 1 | 0.0% | 100.0% |" in md
    assert "| 120-160 | 1 | 100.0% | 100.0% |" in md
    assert "Excluded (no tempo or key annotation, non-music): 2" in md
    assert "Missing estimates: 1" in md
    assert "| CD0000000004 | missing estimate | 95.0 | - | C major | - |" in md
    assert "| CD0000000002 | tempo+key | 60.0 | 120.0 | A minor | C major |" in md


def test_markdown_lists_only_the_first_failures() -> None:
    truth = [{"isrc": f"T{i:03d}", "bpm": 100.0, "key": "C major"} for i in range(25)]
    md = evaluate(truth, []).to_markdown()
    assert "| T009 |" in md and "| T010 |" not in md
    assert "... and 15 more." in md
