"""audio.delivery.metadata: metadata.json parsed into a track, or every defect reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from audio.delivery.metadata import (
    SCHEMA_PATH,
    metadata_json_schema,
    metadata_schema_text,
    parse_metadata,
)
from audio.delivery.model import ParsedDelivery, Problem
from audio.reasons import Reason

R = Reason
DELIVERY = "up-20260818-0001"
REQUIRED = (
    "title",
    "artists",
    "isrc",
    "genre",
    "explicit",
    "territories",
    "rights_splits",
    "audio_file",
)
PARSER_REASONS = {
    R.META_MALFORMED_JSON,
    R.META_MISSING_FIELD,
    R.META_BAD_ISRC,
    R.META_BAD_UPC,
    R.META_BAD_TERRITORY,
    R.META_BAD_DATE,
    R.META_UNKNOWN_GENRE,
    R.META_SPLITS_NOT_100,
    R.META_TEXT_TOO_LONG,
    R.UNSAFE_PATH,
    R.XML_UNSAFE,
    R.XML_MALFORMED,
    R.ERN_INVALID,
}


def good() -> dict[str, Any]:
    """A metadata.json as the sample world's portal writes it."""
    return {
        "album": {"release_type": "Single", "title": "Party Sister Vibes", "upc": "190000000008"},
        "artists": [{"artist_id": "art_00000", "name": "Koffi Mimba", "role": "main"}],
        "audio_file": "rain-ndeko-road.mp3",
        "delivery": {"delivery_id": DELIVERY, "submitted_at": "2026-08-18T08:23:20Z"},
        "explicit": False,
        "genre": "Coupé-décalé",
        "isrc": "gh-uhx-96-00000",
        "label": {"label_id": "lab_0002", "name": "Kin Sound Entertainment"},
        "language": "ln",
        "release_date": "1996-08-08",
        "rights_splits": {
            "publishing": [
                {"name": "Mbilia Ndekara", "payee_id": "pay_wr_0", "share": "25.79"},
                {"name": "Fabregas Emilatshi", "payee_id": "pay_wr_1", "share": "72.33"},
                {"name": "Rhythm Ubuntu Publishing", "payee_id": "pay_pub_001", "share": "1.88"},
            ],
            "recording": [
                {"name": "Kin Sound Entertainment", "payee_id": "pay_lab_0002", "share": "56.00"},
                {"name": "Koffi Mimba", "payee_id": "pay_art_00000", "share": "44.00"},
            ],
        },
        "territories": ["CD", "cm", "NG", "UK"],
        "title": "Rain  Ndeko Road",
        "track_number": 1,
        "upc": "190000000008",
    }


def parse(document: object) -> ParsedDelivery:
    return parse_metadata(json.dumps(document, ensure_ascii=False).encode(), DELIVERY)


def problems(document: object) -> list[tuple[Reason, str | None]]:
    return [(p.reason, p.field) for p in parse(document).all_problems]


def edited(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document = good()
    edit(document)
    return document


# --------------------------------------------------------------------------- good input


def test_a_good_upload_parses_into_a_normalised_track() -> None:
    parsed = parse(good())
    assert parsed.ok and not parsed.problems
    track = parsed.accepted[0]
    assert track.delivery_id == DELIVERY and track.form == "upload"
    assert track.isrc == "GHUHX9600000"
    assert track.title == "Rain Ndeko Road"
    assert track.main_artist.name == "Koffi Mimba" and track.main_artist.artist_id == "art_00000"
    assert (track.album_title, track.upc, track.release_type) == (
        "Party Sister Vibes", "190000000008", "single",
    )  # fmt: skip
    assert track.genre == "coupe_decale"
    assert track.territories == ("CD", "CM", "GB", "NG")
    assert track.release_date == date(1996, 8, 8)
    assert track.submitted_at == datetime(2026, 8, 18, 8, 23, 20, tzinfo=UTC)
    assert [s.share for s in track.recording_splits] == [Decimal("56.00"), Decimal("44.00")]
    assert sum(s.share for s in track.publishing_splits) == 100
    assert (track.label_id, track.label_name) == ("lab_0002", "Kin Sound Entertainment")
    assert track.audio_file == "rain-ndeko-road.mp3" and track.track_number == 1
    assert track.deals == () and track.audio_md5 is None


def test_the_catalog_record_is_flat_json() -> None:
    record = parse(good()).accepted[0].to_record()
    assert json.loads(json.dumps(record)) == record
    assert json.loads(record["recording_splits"])[0] == {
        "name": "Kin Sound Entertainment", "payee_id": "pay_lab_0002", "share": "56.00",
    }  # fmt: skip
    assert record["release_date"] == "1996-08-08" and record["artist_name"] == "Koffi Mimba"


def test_optional_fields_may_be_absent_or_null() -> None:
    document = edited(lambda d: [d.pop(k) for k in ("album", "upc", "track_number", "delivery")])
    document.update(label=None, language="", release_date=None)
    track = parse(document).accepted[0]
    assert (track.album_title, track.upc, track.label_id, track.language) == (None,) * 4


def test_unknown_keys_are_ignored() -> None:
    assert parse(edited(lambda d: d.update(portal_version="3.2", notes={"x": 1}))).ok


def test_json_numbers_are_exact_decimals() -> None:
    """16.75 + 52.01 + 31.24 is 99.99999999999999 in binary floats, exactly 100 here."""
    text = json.dumps(good()).replace('"56.00"', "56").replace('"44.00"', "44.0")
    text = text.replace('"25.79"', "16.75").replace('"72.33"', "52.01").replace('"1.88"', "31.24")
    parsed = parse_metadata(text.encode(), DELIVERY)
    assert parsed.ok, parsed.all_problems
    assert [s.share for s in parsed.accepted[0].publishing_splits] == [
        Decimal("16.75"), Decimal("52.01"), Decimal("31.24"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- bad fields


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return edit


SPLITS = "rights_splits.recording"
BAD_FIELDS = [
    ("isrc", "GHUHX96O0000", R.META_BAD_ISRC, "isrc"),
    ("isrc", "GH-UHX-96-0000", R.META_BAD_ISRC, "isrc"),
    ("upc", "190000000009", R.META_BAD_UPC, "upc"),
    ("album.upc", "190000000007", R.META_BAD_UPC, "album.upc"),
    ("upc", "4006381333931", R.META_BAD_UPC, "album.upc"),  # valid, but not album.upc
    ("territories", ["CD", "XX", "ZZ"], R.META_BAD_TERRITORY, "territories"),
    ("territories", [], R.META_MISSING_FIELD, "territories"),
    ("release_date", "2026-13-45", R.META_BAD_DATE, "release_date"),
    ("release_date", "08/08/1996", R.META_BAD_DATE, "release_date"),
    ("delivery.submitted_at", "2026-08-18 08:23", R.META_BAD_DATE, "delivery.submitted_at"),
    ("genre", "Space Polka", R.META_UNKNOWN_GENRE, "genre"),
    ("rights_splits.recording.0.share", "46.00", R.META_SPLITS_NOT_100, SPLITS),
    ("rights_splits.recording.0.share", 0, R.META_SPLITS_NOT_100, SPLITS),
    ("rights_splits.recording.0.share", -56, R.META_SPLITS_NOT_100, SPLITS),
    ("rights_splits.recording", [], R.META_SPLITS_NOT_100, SPLITS),
    ("rights_splits.recording.0.payee_id", " ", R.META_MISSING_FIELD, SPLITS),
    ("title", "x" * 301, R.META_TEXT_TOO_LONG, "title"),
    ("title", " \t ", R.META_MISSING_FIELD, "title"),
    ("artists.0.name", "n" * 201, R.META_TEXT_TOO_LONG, "artists[0].name"),
    ("artists.0.role", "featured", R.META_MISSING_FIELD, "artists"),  # no main artist left
    ("label.name", "", R.META_MISSING_FIELD, "label.name"),
    ("audio_file", "../../etc/passwd", R.UNSAFE_PATH, "audio_file"),
    ("audio_file", "/etc/passwd", R.UNSAFE_PATH, "audio_file"),
    ("audio_file", "file:///etc/passwd", R.UNSAFE_PATH, "audio_file"),
    ("audio_file", "..\\..\\boot.ini", R.UNSAFE_PATH, "audio_file"),
    ("title", 42, R.META_MALFORMED_JSON, "title"),
    ("explicit", "no", R.META_MALFORMED_JSON, "explicit"),
    ("track_number", 0, R.META_MALFORMED_JSON, "track_number"),
    ("track_number", 1.5, R.META_MALFORMED_JSON, "track_number"),
    ("artists.0.role", "producer", R.META_MALFORMED_JSON, "artists[0].role"),
    ("upc", 190000000008, R.META_MALFORMED_JSON, "upc"),  # a number loses leading zeros
    ("album", "Party Sister Vibes", R.META_MALFORMED_JSON, "album"),
]


@pytest.mark.parametrize(("path", "value", "reason", "field"), BAD_FIELDS)
def test_a_bad_field_gets_its_reason(path: str, value: object, reason: Reason, field: str) -> None:
    document = edited(_set(path, value))
    parsed = parse(document)
    assert [(p.reason, p.field) for p in parsed.all_problems] == [(reason, field)]
    assert parsed.tracks[0].track is None and not parsed.ok


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_missing_is_named(field: str) -> None:
    document = edited(lambda d: d.pop(field))
    [problem] = parse(document).all_problems
    assert (problem.reason, problem.field) == (R.META_MISSING_FIELD, field)
    assert problem.message == f"required field {field} is missing or empty"


@pytest.mark.parametrize("field", REQUIRED)
def test_a_required_field_set_to_null_is_missing(field: str) -> None:
    assert problems(edited(_set(field, None))) == [(R.META_MISSING_FIELD, field)]


def test_every_problem_is_reported_in_one_pass() -> None:
    document = good()
    document.update(isrc="nope", genre="Space Polka", territories=["XX"], release_date="2026-02-30")
    del document["title"]
    document["rights_splits"]["publishing"][0]["share"] = "25.78"
    parsed = parse(document)
    assert {p.reason for p in parsed.all_problems} == {
        R.META_BAD_ISRC, R.META_UNKNOWN_GENRE, R.META_BAD_TERRITORY, R.META_BAD_DATE,
        R.META_MISSING_FIELD, R.META_SPLITS_NOT_100,
    }  # fmt: skip
    splits = next(p for p in parsed.all_problems if p.reason is R.META_SPLITS_NOT_100)
    assert splits.message == "publishing splits sum to 99.99%, not 100%"


def test_a_refused_track_still_names_its_isrc() -> None:
    parsed = parse(edited(_set("genre", "Space Polka")))
    assert parsed.tracks[0].isrc == "GHUHX9600000" and parsed.tracks[0].source == "metadata.json"


def test_control_characters_and_nfc_in_names() -> None:
    document = edited(_set("artists.0.name", "Koffi\x00 Mimba\u0301\x1b"))
    assert parse(document).accepted[0].main_artist.name == "Koffi Mimbá"


# --------------------------------------------------------------------------- bad documents


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (json.dumps(good()).rstrip("}").encode() + b",\n", "Expecting property name"),
        (b"", "Expecting value"),
        (json.dumps([good()]).encode(), "top level is a JSON array"),
        (b'"metadata"', "top level is a JSON string"),
        (b"null", "top level is a JSON null"),
        (b'{"isrc": "A", "isrc": "B"}', "'isrc' appears twice"),
        (b'{"explicit": NaN}', "NaN is not a JSON number"),
        (b'{"title": "caf\xe9"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b" " * (1 << 20) + b"{}", "over the 1048576-byte limit"),
    ],
)
def test_undecodable_documents_are_malformed_json(data: bytes, said: str) -> None:
    parsed = parse_metadata(data, DELIVERY)
    [problem] = parsed.problems
    assert problem.reason is R.META_MALFORMED_JSON and said in problem.message
    assert parsed.tracks == () and not parsed.ok


def test_a_byte_order_mark_is_tolerated() -> None:
    assert parse_metadata(b"\xef\xbb\xbf" + json.dumps(good()).encode(), DELIVERY).ok


# --------------------------------------------------------------------------- the schema


def test_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == metadata_schema_text()


def test_schema_names_required_fields_and_describes_each() -> None:
    schema = metadata_json_schema()
    assert set(schema["required"]) == set(REQUIRED)
    assert schema["additionalProperties"] is True
    assert all(prop.get("description") for prop in schema["properties"].values())
    assert "description" in schema and schema["title"] == "CongoWave upload metadata.json"


# --------------------------------------------------------------------------- the sample world


def _expectations(world: Path) -> dict[str, list[str]]:
    truth = json.loads((world / "truth" / "expected_rejections.json").read_text())
    expected = {d: [] for d in truth["accepted"] + truth["pending"]}
    expected.update({r["delivery_id"]: r["reasons"] for r in truth["rejections"]})
    return expected


@pytest.mark.slow
def test_sample_world_uploads_get_exactly_their_planted_reasons(small_world_dir: Path) -> None:
    """Parser-level defects get their reason; audio defects and good uploads parse cleanly."""
    uploads = small_world_dir / "landing" / "uploads"
    checked = 0
    for delivery_id, reasons in sorted(_expectations(small_world_dir).items()):
        metadata = uploads / delivery_id / "metadata.json"
        if not metadata.exists():
            continue
        parsed = parse_metadata(metadata.read_bytes(), delivery_id)
        want = {Reason(r) for r in reasons} & PARSER_REASONS
        assert parsed.reasons == want, (delivery_id, _messages(parsed.all_problems))
        assert parsed.ok == (not want)
        checked += 1
    assert checked >= 40


def _messages(found: tuple[Problem, ...]) -> list[str]:
    return [p.message for p in found]
