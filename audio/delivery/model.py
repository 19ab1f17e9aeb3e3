"""What ingestion reads out of a delivery, whichever form it came in.

Artists upload one track with a metadata.json; labels send whole releases as
DDEX ERN messages. Both are parsed into the same :class:`TrackDelivery`, so
everything after parsing (audio checks, the catalog, royalties) has one shape
to deal with and never needs to know which form a track arrived in.

A :class:`TrackDelivery` only exists for a track whose every declared value
passed validation: its fields are normalised and trustworthy. A track that
failed is a :class:`ParsedTrack` with ``track=None`` and the problems saying
why, so nothing downstream can mistake a rejected declaration for catalog data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from audio.reasons import Reason

__all__ = [
    "ArtistCredit",
    "Deal",
    "DeliveryForm",
    "InvalidField",
    "ParsedDelivery",
    "ParsedTrack",
    "Problem",
    "ProblemLog",
    "RightShare",
    "TrackDelivery",
]

DeliveryForm = Literal["upload", "ern"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a delivery or track is refused, with the message people will read.

    ``field`` locates the offending value in the delivery ("rights_splits.recording",
    "SoundRecording A1/Duration") so a label can fix it without guessing.
    """

    reason: Reason
    message: str
    field: str | None = None

    def to_record(self) -> dict[str, str | None]:
        """A JSON-able form for rejection reports."""
        return {"reason": self.reason.value, "message": self.message, "field": self.field}


class InvalidField(ValueError):
    """A declared value broke a rule; becomes a :class:`Problem` once its location is known.

    Validators raise this without knowing where the value sits in the delivery
    (the same ISRC check serves metadata.json and ERN), and the parser that
    does know attaches the field name through :meth:`problem`.
    """

    def __init__(self, reason: Reason, note: str | None = None, **details: object) -> None:
        self.reason = reason
        self.note = note
        self.details = details
        super().__init__(self.message(None))

    def message(self, field: str | None) -> str:
        """The reason's message, with ``note`` appended when the template alone is vague."""
        located = {"field": field} if field is not None else {}
        text = self.reason.message(**located, **self.details)
        return f"{text} ({self.note})" if self.note else text

    def problem(self, field: str | None) -> Problem:
        """The problem this failure is, located at ``field``."""
        return Problem(self.reason, self.message(field), field)


class ProblemLog:
    """Collects problems while a parser keeps going, so one pass reports every defect.

    A label fixing a delivery wants the whole list at once, not one problem per
    re-upload; :meth:`check` runs a validator and files its failure instead of
    stopping.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def check(self, field: str, validate: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``validate(*args, **kwargs)``, or ``None`` after filing its failure at ``field``."""
        try:
            return validate(*args, **kwargs)
        except InvalidField as exc:
            self.problems.append(exc.problem(field))
            return None

    def add(
        self, reason: Reason, field: str | None = None, note: str | None = None, **details: object
    ) -> None:
        """File a problem found directly by the parser."""
        self.problems.append(InvalidField(reason, note, **details).problem(field))

    def __bool__(self) -> bool:
        return bool(self.problems)


@dataclass(frozen=True, slots=True)
class ArtistCredit:
    """One credited artist; ``artist_id`` is a CongoWave catalog id when the sender knows it."""

    name: str
    role: Literal["main", "featured"]
    artist_id: str | None = None


@dataclass(frozen=True, slots=True)
class RightShare:
    """One payee's percentage of a right; exact Decimal because royalties are paid from it."""

    payee_id: str
    name: str | None
    share: Decimal


@dataclass(frozen=True, slots=True)
class Deal:
    """Where, how and when a track may be used, as an ERN DealTerms grants it."""

    territories: tuple[str, ...]
    commercial_models: tuple[str, ...]
    use_types: tuple[str, ...]
    start_date: date | None
    end_date: date | None

    def to_record(self) -> dict[str, Any]:
        return {
            "territories": list(self.territories),
            "commercial_models": list(self.commercial_models),
            "use_types": list(self.use_types),
            "start_date": _iso(self.start_date),
            "end_date": _iso(self.end_date),
        }


@dataclass(frozen=True, slots=True)
class TrackDelivery:
    """One validated track of a delivery, normalised (see the module docstring)."""

    delivery_id: str
    form: DeliveryForm
    isrc: str  # 12 characters, upper case, no hyphens
    title: str
    artists: tuple[ArtistCredit, ...]
    album_title: str | None
    upc: str | None  # digits only, GS1 check digit verified
    release_type: str | None
    genre: str  # a taxonomy id
    language: str | None
    release_date: date | None
    explicit: bool
    territories: tuple[str, ...]  # ("WW",) or sorted ISO 3166-1 alpha-2 codes
    recording_splits: tuple[RightShare, ...]
    publishing_splits: tuple[RightShare, ...]
    label_id: str | None
    label_name: str | None
    audio_file: str  # relative to the delivery folder, checked safe to join onto it
    audio_md5: str | None  # the hash the sender declares (ERN HashSum), lower-case hex
    declared_duration_s: float | None
    track_number: int | None
    pline: str | None
    deals: tuple[Deal, ...]
    submitted_at: datetime | None = None  # when the sender says it sent the delivery

    @property
    def main_artist(self) -> ArtistCredit:
        """The first main artist (validation guarantees there is one)."""
        return next(a for a in self.artists if a.role == "main")

    def to_record(self) -> dict[str, Any]:
        """A flat JSON-able row for the warehouse catalog table.

        Nested values (artists, splits, deals) are JSON strings so the row fits
        any table engine; shares stay decimal strings ("33.34") so no float ever
        touches money. Territories stay a list: the catalog filters on them.
        """
        main = self.main_artist
        return {
            "delivery_id": self.delivery_id,
            "form": self.form,
            "isrc": self.isrc,
            "title": self.title,
            "artist_name": main.name,
            "artist_id": main.artist_id,
            "artists": _json([_artist_record(a) for a in self.artists]),
            "album_title": self.album_title,
            "upc": self.upc,
            "release_type": self.release_type,
            "genre": self.genre,
            "language": self.language,
            "release_date": _iso(self.release_date),
            "explicit": self.explicit,
            "territories": list(self.territories),
            "recording_splits": _json([_share_record(s) for s in self.recording_splits]),
            "publishing_splits": _json([_share_record(s) for s in self.publishing_splits]),
            "label_id": self.label_id,
            "label_name": self.label_name,
            "audio_file": self.audio_file,
            "audio_md5": self.audio_md5,
            "declared_duration_s": self.declared_duration_s,
            "track_number": self.track_number,
            "pline": self.pline,
            "deals": _json([d.to_record() for d in self.deals]),
            "submitted_at": _iso(self.submitted_at),
        }


@dataclass(frozen=True, slots=True)
class ParsedTrack:
    """One track's outcome: the validated track, or ``None`` and the problems that sank it.

    ``source`` says where in the delivery the track was declared ("metadata.json",
    "SoundRecording A1") and ``isrc`` is its normalised ISRC when that much was
    valid, so a rejection report can name the track even when it was refused.
    """

    track: TrackDelivery | None
    problems: tuple[Problem, ...] = ()
    source: str = ""
    isrc: str | None = None

    @property
    def ok(self) -> bool:
        return self.track is not None and not self.problems


@dataclass(frozen=True, slots=True)
class ParsedDelivery:
    """Everything parsing found in one delivery folder's declaration.

    ``problems`` are about the delivery as a whole (unsafe or malformed XML, an
    ERN that is not a valid message, metadata.json that is not JSON); per-track
    problems live on each :class:`ParsedTrack`.
    """

    delivery_id: str
    form: DeliveryForm
    tracks: tuple[ParsedTrack, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.tracks) and all(t.ok for t in self.tracks)

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        """Delivery-level problems first, then each track's, in document order."""
        return self.problems + tuple(p for t in self.tracks for p in t.problems)

    @property
    def reasons(self) -> frozenset[Reason]:
        """Every distinct reason code found, for comparing with expected rejections."""
        return frozenset(p.reason for p in self.all_problems)

    @property
    def accepted(self) -> tuple[TrackDelivery, ...]:
        """The tracks that passed (only meaningful to ingest when :attr:`ok`)."""
        return tuple(t.track for t in self.tracks if t.ok and t.track is not None)


def _artist_record(artist: ArtistCredit) -> dict[str, str | None]:
    return {"name": artist.name, "role": artist.role, "artist_id": artist.artist_id}


def _share_record(share: RightShare) -> dict[str, str | None]:
    return {"payee_id": share.payee_id, "name": share.name, "share": str(share.share)}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
