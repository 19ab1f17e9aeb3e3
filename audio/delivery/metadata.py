"""metadata.json: the declaration that comes with a per-track upload.

The artist portal writes one metadata.json beside each uploaded audio file (see
``pipelines/sample_world/uploads.py:upload_metadata``). :class:`MetadataModel`
is its contract: the published JSON Schema (``audio/schemas/metadata.schema.json``)
is generated from it, and its validators normalise every value with the same
rules ERN deliveries are held to (:mod:`audio.delivery.identifiers`).

Unknown keys are allowed and ignored (``additionalProperties: true``). Upload
tools add their own bookkeeping keys, and a newer portal may send fields an
older ingestion does not know yet; refusing a release over a key we do not read
would protect nothing. A misspelt *required* key still fails as missing.

:func:`parse_metadata` never raises on bad input: it reports every problem it
finds in one pass (pydantic collects errors across all fields), each with a
stable reason code, so an artist can fix everything in one re-upload. The
folder name, not ``delivery.delivery_id`` inside the file, identifies the
delivery: the folder is what ingestion actually read.

Regenerate the published schema after changing the model with
``python -c "from audio.delivery.metadata import write_metadata_schema as w; w()"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from audio.delivery.identifiers import (
    ID_MAX,
    LANGUAGE_MAX,
    NAME_MAX,
    RELEASE_TYPE_MAX,
    TITLE_MAX,
    clean_optional_text,
    clean_text,
    genre_id,
    normalise_isrc,
    normalise_territories,
    normalise_upc,
    parse_date,
    parse_timestamp,
    safe_relative_path,
    validate_splits,
)
from audio.delivery.model import (
    ArtistCredit,
    InvalidField,
    ParsedDelivery,
    ParsedTrack,
    Problem,
    TrackDelivery,
)
from audio.reasons import Reason, reason_codes
from audio.taxonomy import GENRE_IDS

__all__ = [
    "METADATA_FILE",
    "SCHEMA_PATH",
    "MetadataModel",
    "metadata_json_schema",
    "metadata_schema_text",
    "parse_metadata",
]

METADATA_FILE = "metadata.json"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "metadata.schema.json"
MAX_METADATA_BYTES = 1 << 20  # a real metadata.json is a few kB
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# --------------------------------------------------------------------------- field types


def _checked(validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``validate`` with its :class:`InvalidField` turned into a pydantic error keeping the reason.

    The error type is the reason code, so :func:`_problem` maps it straight back
    once pydantic knows where in the document the value was.
    """

    def run(value: Any) -> Any:
        try:
            return validate(value)
        except InvalidField as exc:
            raise PydanticCustomError(
                exc.reason.value, "{message}", {"message": exc.message(None), "invalid": exc}
            ) from None

    return run


def _string_then(validate: Callable[[str], Any]) -> PlainValidator:
    """A validator for values that arrive as JSON strings but are stored parsed (dates)."""

    def run(value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        return _checked(validate)(value)

    return PlainValidator(run)


Title = Annotated[str, AfterValidator(_checked(partial(clean_text, max_length=TITLE_MAX)))]
Name = Annotated[str, AfterValidator(_checked(partial(clean_text, max_length=NAME_MAX)))]
OptionalId = Annotated[
    str | None, AfterValidator(_checked(partial(clean_optional_text, max_length=ID_MAX)))
]
Isrc = Annotated[
    str,
    AfterValidator(_checked(normalise_isrc)),
    Field(
        json_schema_extra={
            "pattern": r"^\s*[A-Za-z]{2}[- ]?[A-Za-z0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{5}\s*$"
        }
    ),
]
Upc = Annotated[
    str | None,
    AfterValidator(_checked(normalise_upc)),
    Field(json_schema_extra={"pattern": r"^\s*[0-9 -]{12,}\s*$"}),
]
CalendarDate = Annotated[
    date, _string_then(parse_date), WithJsonSchema({"type": "string", "format": "date"})
]
Timestamp = Annotated[
    datetime,
    _string_then(parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Share = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            ]
        }
    ),
]


def _release_type(value: str) -> str | None:
    """Release types compare case-insensitively ("Single" is single), so store lower case."""
    text = clean_optional_text(value, RELEASE_TYPE_MAX)
    return text.lower() if text is not None else None


def _splits_of(right_type: str) -> Callable[[list[ShareIn]], list[ShareIn]]:
    """A check that one right's shares are valid and sum to 100 (the list is kept as declared)."""

    def check(shares: list[ShareIn]) -> list[ShareIn]:
        validate_splits(right_type, _share_entries(shares))
        return shares

    return check


# --------------------------------------------------------------------------- the model


class _Model(BaseModel):
    """Shared config: frozen, unknown keys ignored, ``null`` treated as absent.

    Treating ``null`` as absent makes ``"title": null`` a missing field (one
    clear reason) rather than a type error about ``None``.
    """

    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"additionalProperties": True}
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class ArtistIn(_Model):
    """One credited artist."""

    name: Name = Field(description=f"The artist's name as credited. At most {NAME_MAX} characters.")
    role: Literal["main", "featured"] = Field(
        "main", description="main (the track's artist) or featured."
    )
    artist_id: OptionalId = Field(
        None, description="The artist's CongoWave catalog id, when the artist already has one."
    )


class AlbumIn(_Model):
    """The release the track appears on (a single is its own release)."""

    title: Title = Field(description=f"The release title. At most {TITLE_MAX} characters.")
    upc: Upc = Field(
        None,
        description="The release's UPC-A (12 digits), EAN-13 or GTIN-14, with a valid check digit.",
    )
    release_type: Annotated[str | None, AfterValidator(_checked(_release_type))] = Field(
        None, description="single, ep or album (stored lower-case)."
    )


class ShareIn(_Model):
    """One payee's percentage of a right."""

    payee_id: str = Field(description=f"The payee's CongoWave id. At most {ID_MAX} characters.")
    name: str | None = Field(None, description="The payee's name, for people reading statements.")
    share: Share = Field(
        description=(
            'The percentage, above 0 and at most 100. A decimal string ("33.34") is '
            "recommended; numbers are read as exact decimals."
        )
    )


class SplitsIn(_Model):
    """Who is paid for the track: each right's shares must sum to exactly 100."""

    recording: Annotated[list[ShareIn], AfterValidator(_checked(_splits_of("recording")))] = Field(
        description="Shares of the sound recording (master) right."
    )
    publishing: Annotated[list[ShareIn], AfterValidator(_checked(_splits_of("publishing")))] = (
        Field(description="Shares of the musical work (publishing) right.")
    )


class LabelIn(_Model):
    """The label releasing the track."""

    label_id: OptionalId = Field(None, description="The label's CongoWave catalog id.")
    name: Name = Field(description=f"The label's name. At most {NAME_MAX} characters.")


class DeliveryIn(_Model):
    """Bookkeeping the portal adds when it writes the file."""

    delivery_id: OptionalId = Field(
        None, description="The portal's id for the upload (the folder name is authoritative)."
    )
    submitted_at: Timestamp | None = Field(
        None, description="When the upload was submitted: ISO 8601 with Z or a UTC offset."
    )


class MetadataModel(_Model):
    """metadata.json of a per-track upload to CongoWave: one track, its rights and its audio."""

    model_config = ConfigDict(
        title="CongoWave upload metadata.json",
        json_schema_extra={"additionalProperties": True, "$schema": JSON_SCHEMA_DIALECT},
    )

    title: Title = Field(description=f"The track title. At most {TITLE_MAX} characters.")
    artists: list[ArtistIn] = Field(
        min_length=1, description="Credited artists in display order; at least one main artist."
    )
    isrc: Isrc = Field(
        description=(
            "The track's ISRC: CC-XXX-YY-NNNNN, with or without hyphens, any case "
            "(stored as 12 upper-case characters)."
        )
    )
    genre: Annotated[str, AfterValidator(_checked(genre_id))] = Field(
        description="A CongoWave taxonomy genre, by id (coupe_decale) or name (Coupé-décalé).",
        examples=list(GENRE_IDS),
    )
    explicit: StrictBool = Field(
        description="Whether the track carries an explicit-content advisory."
    )
    territories: Annotated[list[str], AfterValidator(_checked(normalise_territories))] = Field(
        min_length=1,
        description='ISO 3166-1 alpha-2 codes where the track may be streamed; ["WW"]: worldwide.',
    )
    rights_splits: SplitsIn = Field(description="Recording and publishing shares.")
    audio_file: Annotated[str, AfterValidator(_checked(safe_relative_path))] = Field(
        description="The audio file's path relative to the upload folder (no '..', not absolute)."
    )
    album: AlbumIn | None = Field(None, description="The release the track appears on.")
    upc: Upc = Field(
        None, description="The release's UPC/EAN; must equal album.upc if both are given."
    )
    track_number: StrictInt | None = Field(
        None, ge=1, le=9999, description="The track's position on its release, from 1."
    )
    language: Annotated[
        str | None, AfterValidator(_checked(partial(clean_optional_text, max_length=LANGUAGE_MAX)))
    ] = Field(None, description="Language of the lyrics: ISO 639 code (zxx: no lyrics).")
    release_date: CalendarDate | None = Field(None, description="The release date, YYYY-MM-DD.")
    label: LabelIn | None = Field(None, description="The releasing label; null when self-released.")
    delivery: DeliveryIn | None = Field(None, description="Portal bookkeeping.")


# --------------------------------------------------------------------------- the schema


def metadata_json_schema() -> dict[str, Any]:
    """The published JSON Schema of metadata.json, generated from :class:`MetadataModel`."""
    schema = MetadataModel.model_json_schema(mode="validation")
    schema["description"] = " ".join((MetadataModel.__doc__ or "").split())
    return schema


def metadata_schema_text() -> str:
    """The schema exactly as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(metadata_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- parsing


def parse_metadata(data: bytes, delivery_id: str, *, file: str = METADATA_FILE) -> ParsedDelivery:
    """Parse and validate one upload's metadata.json; every defect becomes a problem."""
    document = _load_json(data, file)
    if isinstance(document, Problem):
        return ParsedDelivery(delivery_id, "upload", problems=(document,))
    try:
        model = MetadataModel.model_validate(document)
    except ValidationError as exc:
        problems = tuple(_problem(error, file) for error in exc.errors())
        track = ParsedTrack(None, problems, source=file, isrc=_isrc_if_valid(document))
        return ParsedDelivery(delivery_id, "upload", tracks=(track,))
    return ParsedDelivery(delivery_id, "upload", tracks=(_to_track(model, delivery_id, file),))


def _load_json(data: bytes, file: str) -> Any:
    """The decoded JSON object, or the META_MALFORMED_JSON problem saying why not.

    Floats are read as Decimal (shares must not pick up binary error), NaN and
    Infinity are refused, and so are duplicate keys: two ``isrc`` keys mean two
    tools would read two different tracks out of one file.
    """

    def malformed(detail: str) -> Problem:
        return Problem(
            Reason.META_MALFORMED_JSON, Reason.META_MALFORMED_JSON.message(file=file, detail=detail)
        )

    if len(data) > MAX_METADATA_BYTES:
        return malformed(f"{len(data)} bytes, over the {MAX_METADATA_BYTES}-byte limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return malformed(f"not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        document = json.loads(
            text, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_object
        )
    except RecursionError:
        return malformed("nested too deeply")
    except ValueError as exc:  # JSONDecodeError, and our own refusals
        return malformed(str(exc))
    if not isinstance(document, dict):
        return malformed(f"the top level is a JSON {_json_type(document)}, not an object")
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _problem(error: ErrorDetails, file: str) -> Problem:
    """The problem a pydantic error stands for, located by its path in the document."""
    field = _path(error["loc"])
    kind = error["type"]
    if kind in reason_codes():
        invalid: InvalidField = error["ctx"]["invalid"]
        return invalid.problem(field)
    if kind in ("missing", "too_short"):
        return InvalidField(Reason.META_MISSING_FIELD).problem(field)
    detail = f"{field}: {error['msg']}"
    return Problem(
        Reason.META_MALFORMED_JSON,
        Reason.META_MALFORMED_JSON.message(file=file, detail=detail),
        field,
    )


def _path(loc: Sequence[int | str]) -> str:
    """``("artists", 0, "name")`` -> ``"artists[0].name"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _isrc_if_valid(document: dict[str, Any]) -> str | None:
    """The normalised ISRC of a refused track, so its rejection can still name it."""
    try:
        return normalise_isrc(document["isrc"])
    except (KeyError, TypeError, AttributeError, InvalidField):
        return None


def _share_entries(shares: Sequence[ShareIn]) -> list[tuple[str, str | None, object]]:
    return [(s.payee_id, s.name, s.share) for s in shares]


def _to_track(model: MetadataModel, delivery_id: str, file: str) -> ParsedTrack:
    """The validated track, after the checks that span several fields."""
    problems = []
    album_upc = model.album.upc if model.album else None
    if model.upc and album_upc and model.upc != album_upc:
        note = f"upc {model.upc} and album.upc {album_upc} disagree"
        problems.append(
            InvalidField(Reason.META_BAD_UPC, note, value=album_upc).problem("album.upc")
        )
    if not any(a.role == "main" for a in model.artists):
        note = "no artist has the role main"
        problems.append(InvalidField(Reason.META_MISSING_FIELD, note).problem("artists"))
    if problems:
        return ParsedTrack(None, tuple(problems), source=file, isrc=model.isrc)
    track = TrackDelivery(
        delivery_id=delivery_id,
        form="upload",
        isrc=model.isrc,
        title=model.title,
        artists=tuple(ArtistCredit(a.name, a.role, a.artist_id) for a in model.artists),
        album_title=model.album.title if model.album else None,
        upc=model.upc or album_upc,
        release_type=model.album.release_type if model.album else None,
        genre=model.genre,
        language=model.language,
        release_date=model.release_date,
        explicit=model.explicit,
        territories=tuple(model.territories),
        recording_splits=validate_splits(
            "recording", _share_entries(model.rights_splits.recording)
        ),
        publishing_splits=validate_splits(
            "publishing", _share_entries(model.rights_splits.publishing)
        ),
        label_id=model.label.label_id if model.label else None,
        label_name=model.label.name if model.label else None,
        audio_file=model.audio_file,
        audio_md5=None,
        declared_duration_s=None,
        track_number=model.track_number,
        pline=None,
        deals=(),
        submitted_at=model.delivery.submitted_at if model.delivery else None,
    )
    return ParsedTrack(track, source=file, isrc=model.isrc)


def write_metadata_schema(path: Path = SCHEMA_PATH) -> Path:
    """Write the published schema file (run after changing :class:`MetadataModel`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metadata_schema_text(), encoding="utf-8")
    return path
