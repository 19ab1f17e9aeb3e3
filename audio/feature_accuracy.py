"""How right the extracted tempo and key are, scored the way MIREX scores them.

Tempo and key estimates feed the recommender and the DJ-style "mix next"
feature, so a silent drop in accuracy (a new Essentia build, a fallback to
librosa on more tracks) must show up as a number. The numbers here are the
ones the literature reports, so they can be compared with published results:

* **Accuracy1** (Gouyon et al., 2006): the estimate is within ``tol`` (4 %)
  of the annotated tempo. It is ``mir_eval.tempo.detection``'s
  ``one_correct`` when both reference tempi are the annotation.
* **Accuracy2**: as Accuracy1, but the estimate may also be within 4 % of
  2x, 3x, 1/2 or 1/3 of the annotation. Octave (and triple-meter) errors
  are the commonest tempo mistake and are harmless for some uses (a
  crossfade can still line up beats), so both figures are reported.
* **Key weighted score** (MIREX): ``mir_eval.key.weighted_score`` gives 1.0
  for the same key, 0.5 for the key a fifth above, 0.3 for the relative
  major/minor and 0.2 for the parallel major/minor; **key exact** counts
  only 1.0.

Non-music ground truth (a row with neither a tempo nor a key, e.g. sleep
sounds) is excluded and counted, never scored. A ground-truth track with no
estimate is scored as wrong and listed: an extractor that crashes on the
hard tracks must not look more accurate than one that tries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import mir_eval

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "DEFAULT_TOLERANCE",
    "TEMPO_BANDS",
    "AccuracyReport",
    "evaluate",
    "key_score",
    "normalise_key_label",
    "tempo_accuracy1",
    "tempo_accuracy2",
]

# Gouyon et al.'s tolerance, also MIREX's "Accuracy1/2" setting.
DEFAULT_TOLERANCE = 0.04
# Accuracy2's allowed metrical levels: the truth itself, and the octave and
# triple-meter errors a tempo estimator typically makes.
_ACCURACY2_FACTORS = (1.0, 2.0, 3.0, 1.0 / 2.0, 1.0 / 3.0)
# Bands of the *annotated* tempo: estimators fail differently on slow
# ballads (octave-up errors) and fast dance music (octave-down errors).
TEMPO_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<80", 0.0, 80.0),
    ("80-120", 80.0, 120.0),
    ("120-160", 120.0, 160.0),
    (">=160", 160.0, math.inf),
)
_NATURAL_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "\u266f": 1, "b": -1, "\u266d": -1}
# mir_eval's spelling for each pitch class (it knows neither "Cb" nor "E#").
_PC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MODES = {"major": "major", "maj": "major", "minor": "minor", "min": "minor"}
_MARKDOWN_FAILURES = 10


def tempo_accuracy1(true_bpm: float, est_bpm: float, tol: float = DEFAULT_TOLERANCE) -> bool:
    """Gouyon's Accuracy1: the estimate is within ``tol`` of the annotated tempo.

    The comparison is written as mir_eval writes it (relative error against
    the reference), so the two agree even at the edge of the tolerance.
    """
    truth, est = _check_tempi(true_bpm, est_bpm, tol)
    return _within(truth, est, tol)


def tempo_accuracy2(true_bpm: float, est_bpm: float, tol: float = DEFAULT_TOLERANCE) -> bool:
    """Gouyon's Accuracy2: within ``tol`` of the truth or of 2x, 3x, 1/2 or 1/3 of it.

    The tolerance is relative to each scaled tempo, so an estimate of double
    the truth has as much slack, proportionally, as a correct one.
    """
    truth, est = _check_tempi(true_bpm, est_bpm, tol)
    return any(_within(truth * factor, est, tol) for factor in _ACCURACY2_FACTORS)


def _within(reference: float, estimate: float, tol: float) -> bool:
    return abs(reference - estimate) / reference <= tol


def _check_tempi(true_bpm: float, est_bpm: float, tol: float) -> tuple[float, float]:
    """Reject values that would make a score meaningless rather than merely wrong."""
    truth = float(true_bpm)
    est = float(est_bpm)
    if not math.isfinite(truth) or truth <= 0:
        raise ValueError(f"true_bpm must be a positive finite number, got {true_bpm!r}")
    if not math.isfinite(est) or est < 0:
        raise ValueError(f"est_bpm must be a non-negative finite number, got {est_bpm!r}")
    if not 0 < tol <= 1:
        raise ValueError(f"tol must lie in (0, 1], got {tol!r}")
    return truth, est


def normalise_key_label(label: str) -> str:
    """Spell a key label ("D# minor", "eb Min", "E\u266d minor") the way mir_eval accepts it.

    mir_eval only knows a fixed set of tonic spellings and is case-sensitive
    about the mode; annotations and extractors are not that tidy, and
    enharmonic spellings ("D#"/"Eb") must compare as the same key.
    """
    if not isinstance(label, str):
        raise TypeError(f"key label must be a string like 'Eb minor', got {label!r}")
    parts = label.split()
    if len(parts) != 2:
        raise ValueError(f"key label {label!r} is not '<tonic> <major|minor>'")
    tonic, mode = parts
    pc = _pitch_class(tonic, label)
    canonical_mode = _MODES.get(mode.lower())
    if canonical_mode is None:
        raise ValueError(f"key label {label!r} has mode {mode!r}; expected 'major' or 'minor'")
    return f"{_PC_NAMES[pc]} {canonical_mode}"


def _pitch_class(tonic: str, label: str) -> int:
    letter = tonic[:1].upper()
    if letter not in _NATURAL_PC:
        raise ValueError(f"key label {label!r} has tonic {tonic!r}; expected A-G with # or b")
    pc = _NATURAL_PC[letter]
    for accidental in tonic[1:]:
        if accidental not in _ACCIDENTALS:
            raise ValueError(f"key label {label!r} has tonic {tonic!r}; expected A-G with # or b")
        pc += _ACCIDENTALS[accidental]
    return pc % 12


def key_score(true_label: str, est_label: str) -> float:
    """MIREX weighted key score (1.0 same, 0.5 fifth above, 0.3 relative, 0.2 parallel, else 0)."""
    reference = normalise_key_label(true_label)
    estimate = normalise_key_label(est_label)
    return float(mir_eval.key.weighted_score(reference, estimate))


@dataclass(frozen=True)
class AccuracyReport:
    """One evaluation run, small enough to attach to an asset as metadata.

    ``tracks`` counts scored ground-truth rows; tempo and key have their own
    denominators (``tempo_tracks``, ``key_tracks``) because an annotation can
    carry a tempo and no key (a drum track) or the reverse. A metric with no
    annotated track is ``None`` rather than a misleading 0 or 1.
    """

    tracks: int
    accuracy1: float | None
    accuracy2: float | None
    key_weighted: float | None
    key_exact: float | None
    by_tempo_band: dict[str, dict[str, Any]]
    failures: list[dict[str, Any]]
    excluded: int = 0
    missing_estimates: int = 0
    tempo_tracks: int = 0
    key_tracks: int = 0
    tolerance: float = DEFAULT_TOLERANCE
    id_column: str = "isrc"
    unmatched_estimates: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """JSON with stable key order, so stored reports diff cleanly."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def to_markdown(self) -> str:
        """A summary table, then per-band and failure tables (README, notebooks, Dagster)."""
        tol = f"\u00b1{self.tolerance * 100:g}%"
        lines = [
            "| metric | value | tracks |",
            "|---|---:|---:|",
            f"| Accuracy1 ({tol}) | {_pct(self.accuracy1)} | {self.tempo_tracks} |",
            (
                f"| Accuracy2 ({tol}, x2 x3 x1/2 x1/3) | {_pct(self.accuracy2)} "
                f"| {self.tempo_tracks} |"
            ),
            f"| Key, MIREX weighted | {_num(self.key_weighted)} | {self.key_tracks} |",
            f"| Key, exact | {_pct(self.key_exact)} | {self.key_tracks} |",
            "",
            "| tempo band (BPM) | tracks | Accuracy1 | Accuracy2 |",
            "|---|---:|---:|---:|",
        ]
        for band, stats in self.by_tempo_band.items():
            lines.append(
                f"| {band} | {stats['tracks']} | {_pct(stats['accuracy1'])} "
                f"| {_pct(stats['accuracy2'])} |"
            )
        lines += [
            "",
            (
                f"Scored tracks: {self.tracks}. Excluded (no tempo or key annotation, "
                f"non-music): {self.excluded}. Missing estimates: {self.missing_estimates}. "
                f"Failures: {len(self.failures)}."
            ),
        ]
        if self.failures:
            lines += _failure_table(self.failures[:_MARKDOWN_FAILURES], self.id_column)
            if len(self.failures) > _MARKDOWN_FAILURES:
                lines.append(f"... and {len(self.failures) - _MARKDOWN_FAILURES} more.")
        return "\n".join(lines) + "\n"


def _failure_table(failures: Sequence[Mapping[str, Any]], id_column: str) -> list[str]:
    rows = [
        "",
        f"| {id_column} | reason | true BPM | est. BPM | true key | est. key |",
        "|---|---|---:|---:|---|---|",
    ]
    for f in failures:
        rows.append(
            f"| {f[id_column]} | {f['reason']} | {_num(f['true_bpm'], 1)} | "
            f"{_num(f['est_bpm'], 1)} | {f['true_key'] or '-'} | {f['est_key'] or '-'} |"
        )
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def evaluate(
    truth: list[dict[str, Any]] | pl.DataFrame,
    estimates: list[dict[str, Any]] | pl.DataFrame,
    *,
    id_column: str = "isrc",
    tol: float = DEFAULT_TOLERANCE,
) -> AccuracyReport:
    """Score extractor output (warehouse feature rows) against annotated ground truth.

    Truth rows carry ``bpm`` and ``key`` ("G major"); estimate rows are
    feature rows, whose key is ``key_label`` or ``key`` + ``scale``. Rows are
    joined on ``id_column``; a duplicated id on either side is an error,
    since it would make one track count twice.
    """
    truth_by_id = _index(_as_rows(truth, "truth"), id_column, "truth")
    est_by_id = _index(_as_rows(estimates, "estimates"), id_column, "estimates")
    scored: list[_Scored] = []
    excluded = 0
    for track_id, row in truth_by_id.items():
        true_bpm = _optional_number(row.get("bpm"))
        true_key = row.get("key") or None
        if true_bpm is None and true_key is None:
            excluded += 1
            continue
        if true_bpm is not None and true_bpm <= 0:
            raise ValueError(
                f"truth bpm for {id_column}={track_id!r} must be positive, got {true_bpm!r}"
            )
        true_key = _normalised(true_key, "truth key", id_column, track_id)
        scored.append(_score(track_id, true_bpm, true_key, est_by_id.get(track_id), id_column, tol))
    if not scored:
        raise ValueError(
            "no ground-truth row with a bpm or key to evaluate "
            f"({excluded} non-music rows excluded)"
        )
    return _report(scored, excluded, len(set(est_by_id) - set(truth_by_id)), id_column, tol)


@dataclass(frozen=True)
class _Scored:
    """One scored track; None means "not annotated", so it stays out of that metric."""

    track_id: Any
    true_bpm: float | None
    est_bpm: float | None
    acc1: bool | None
    acc2: bool | None
    true_key: str | None
    est_key: str | None
    key: float | None
    has_estimate: bool


def _score(
    track_id: Any,
    true_bpm: float | None,
    true_key: str | None,
    est_row: Mapping[str, Any] | None,
    id_column: str,
    tol: float,
) -> _Scored:
    est_bpm = _optional_number(est_row.get("bpm")) if est_row is not None else None
    est_key = _estimated_key(est_row, id_column, track_id) if est_row is not None else None
    acc1 = acc2 = None
    if true_bpm is not None:
        usable = est_bpm is not None and est_bpm >= 0
        acc1 = usable and tempo_accuracy1(true_bpm, est_bpm, tol)
        acc2 = usable and tempo_accuracy2(true_bpm, est_bpm, tol)
    key = None
    if true_key is not None:
        key = key_score(true_key, est_key) if est_key is not None else 0.0
    return _Scored(
        track_id, true_bpm, est_bpm, acc1, acc2, true_key, est_key, key, est_row is not None
    )


def _estimated_key(row: Mapping[str, Any], id_column: str, track_id: Any) -> str | None:
    """A feature row spells its key as ``key_label``, or as ``key`` ("Eb") plus ``scale``."""
    label = row.get("key_label")
    if not label:
        key, scale = row.get("key"), row.get("scale")
        if key and scale:
            label = f"{key} {scale}"
        elif key and " " in str(key):
            label = key
    return _normalised(label or None, "estimated key", id_column, track_id)


def _normalised(label: Any, what: str, id_column: str, track_id: Any) -> str | None:
    if label is None:
        return None
    try:
        return normalise_key_label(label)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} for {id_column}={track_id!r}: {exc}") from None


def _report(
    scored: list[_Scored], excluded: int, unmatched: int, id_column: str, tol: float
) -> AccuracyReport:
    tempo = [s for s in scored if s.acc1 is not None]
    keyed = [s for s in scored if s.key is not None]
    return AccuracyReport(
        tracks=len(scored),
        accuracy1=_mean(s.acc1 for s in tempo),
        accuracy2=_mean(s.acc2 for s in tempo),
        key_weighted=_mean(s.key for s in keyed),
        key_exact=_mean(s.key == 1.0 for s in keyed),
        by_tempo_band=_by_band(tempo),
        failures=[_failure(s, id_column) for s in scored if _failed(s)],
        excluded=excluded,
        missing_estimates=sum(not s.has_estimate for s in scored),
        tempo_tracks=len(tempo),
        key_tracks=len(keyed),
        tolerance=tol,
        id_column=id_column,
        unmatched_estimates=unmatched,
    )


def _by_band(tempo: list[_Scored]) -> dict[str, dict[str, Any]]:
    bands: dict[str, dict[str, Any]] = {}
    for name, low, high in TEMPO_BANDS:
        members = [s for s in tempo if low <= s.true_bpm < high]
        bands[name] = {
            "tracks": len(members),
            "accuracy1": _mean(s.acc1 for s in members),
            "accuracy2": _mean(s.acc2 for s in members),
        }
    return bands


def _failed(s: _Scored) -> bool:
    return not s.has_estimate or s.acc1 is False or (s.key is not None and s.key < 1.0)


def _failure(s: _Scored, id_column: str) -> dict[str, Any]:
    if not s.has_estimate:
        reason = "missing estimate"
    else:
        reasons = []
        if s.acc1 is False:
            reasons.append("tempo")
        if s.key is not None and s.key < 1.0:
            reasons.append("key")
        reason = "+".join(reasons)
    return {
        id_column: s.track_id,
        "reason": reason,
        "true_bpm": s.true_bpm,
        "est_bpm": s.est_bpm,
        "accuracy2": s.acc2,
        "true_key": s.true_key,
        "est_key": s.est_key,
        "key_score": s.key,
    }


def _mean(values: Iterable[float | bool | None]) -> float | None:
    items = [float(v) for v in values]
    return sum(items) / len(items) if items else None


def _optional_number(value: Any) -> float | None:
    """Warehouse nulls arrive as None or NaN; both mean "not there"."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _as_rows(rows: Any, name: str) -> list[dict[str, Any]]:
    if isinstance(rows, (list, tuple)):
        return [dict(r) for r in rows]
    to_dicts = getattr(rows, "to_dicts", None)
    if to_dicts is None:
        raise TypeError(
            f"{name} must be a list of dicts or a polars DataFrame, got {type(rows).__name__}"
        )
    return to_dicts()


def _index(rows: list[dict[str, Any]], id_column: str, name: str) -> dict[Any, dict[str, Any]]:
    indexed: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if id_column not in row:
            raise ValueError(f"{name} row has no {id_column!r} column: {sorted(row)}")
        track_id = row[id_column]
        if track_id in indexed:
            raise ValueError(f"{name} has {id_column}={track_id!r} more than once")
        indexed[track_id] = row
    return indexed
