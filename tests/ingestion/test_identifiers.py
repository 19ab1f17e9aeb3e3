"""audio.delivery.identifiers: every declared value normalised, or refused with its reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio.delivery.identifiers import (
    COUNTRY_CODES,
    TITLE_MAX,
    clean_optional_text,
    clean_text,
    format_isrc,
    genre_id,
    gs1_check_digit,
    normalise_isrc,
    normalise_territories,
    normalise_upc,
    parse_date,
    parse_date_or_timestamp,
    parse_timestamp,
    safe_relative_path,
    validate_splits,
)
from audio.delivery.model import InvalidField
from audio.reasons import Reason

R = Reason


def refused(reason: Reason, call, *args):  # type: ignore[no-untyped-def]
    """Run ``call`` expecting InvalidField with ``reason``; return the exception."""
    with pytest.raises(InvalidField) as info:
        call(*args)
    assert info.value.reason is reason, info.value
    return info.value


# --------------------------------------------------------------------------- ISRC


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("CDCWX2600042", "CDCWX2600042"),
        ("CD-CWX-26-00042", "CDCWX2600042"),
        ("cd-cwx-26-00042", "CDCWX2600042"),
        ("  gbayc1700598 ", "GBAYC1700598"),
        ("GB AYC 17 00598", "GBAYC1700598"),
        ("QM-A1B-24-00001", "QMA1B2400001"),  # IFPI-issued prefix, not a country
        ("QZ9X92400001", "QZ9X92400001"),
    ],
)
def test_isrc_forms_people_type_normalise(typed: str, normal: str) -> None:
    assert normalise_isrc(typed) == normal


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "CD-CWX-26-0004",  # a digit short
        "CDCWX260004212",  # too long
        "1DCWX2600042",  # country part must be letters
        "CDCWX2A00042",  # year must be digits
        "GHP59269O016",  # letter O typed for a zero
        "CDC-WX-26-00042",  # hyphens in the wrong places
        "CD_CWX_26_00042",
        "ĆDCWX2600042",  # non-ASCII look-alike
        "\uff23\uff24CWX2600042",  # full-width C and D
        "CDCWX26000४2",  # a Devanagari digit (str.isdigit would accept it)
        "ISRC CDCWX2600042",
    ],
)
def test_bad_isrcs_are_refused(bad: str) -> None:
    error = refused(R.META_BAD_ISRC, normalise_isrc, bad)
    assert repr(bad)[:20] in str(error)


isrc_parts = st.tuples(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=3, max_size=3),
    st.integers(0, 99),
    st.integers(0, 99999),
)


@given(isrc_parts, st.sampled_from(["plain", "hyphen", "space", "lower", "mixed"]))
def test_isrc_round_trips_through_every_display_style(
    parts: tuple[str, str, int, int], style: str
) -> None:
    country, registrant, year, designation = parts
    canonical = f"{country}{registrant}{year:02d}{designation:05d}"
    typed = {
        "plain": canonical,
        "hyphen": format_isrc(canonical),
        "space": format_isrc(canonical).replace("-", " "),
        "lower": format_isrc(canonical).lower(),
        "mixed": canonical[:6].lower() + canonical[6:],
    }[style]
    assert normalise_isrc(typed) == canonical
    assert normalise_isrc(normalise_isrc(typed)) == canonical
    assert format_isrc(canonical).replace("-", "") == canonical


# --------------------------------------------------------------------------- UPC / EAN


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("190295810726", "190295810726"),  # the DDEX sample's UPC-A
        ("4006381333931", "4006381333931"),  # EAN-13
        ("0 36000 29145 2", "036000291452"),
        ("10614141000415", "10614141000415"),  # GTIN-14
    ],
)
def test_upcs_normalise_to_digits(typed: str, normal: str) -> None:
    assert normalise_upc(typed) == normal


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("190295810727", "check digit should be 6"),
        ("19029581072", "11 characters"),
        ("190295810726123", "15 characters"),
        ("19029581072X", "12 characters"),
        ("", "0 characters"),
    ],
)
def test_bad_upcs_say_what_is_wrong(bad: str, why: str) -> None:
    assert why in str(refused(R.META_BAD_UPC, normalise_upc, bad))


@given(st.text("0123456789", min_size=11, max_size=13), st.data())
def test_gs1_check_digit_catches_any_single_digit_error(body: str, data: st.DataObject) -> None:
    code = body + str(gs1_check_digit(body))
    assert normalise_upc(code) == code
    position = data.draw(st.integers(0, len(code) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    typo = code[:position] + wrong + code[position + 1 :]
    refused(R.META_BAD_UPC, normalise_upc, typo)


# --------------------------------------------------------------------------- territories


@pytest.mark.parametrize(
    ("codes", "normal"),
    [
        (["cd", " ke ", "CD"], ("CD", "KE")),
        (["WW"], ("WW",)),
        (["ww", "CD"], ("WW",)),  # worldwide absorbs the rest
        (["UK", "GB", "FR"], ("FR", "GB")),  # UK is the reserved alias of GB
    ],
)
def test_territories_normalise(codes: list[str], normal: tuple[str, ...]) -> None:
    assert normalise_territories(codes) == normal


@pytest.mark.parametrize(
    ("codes", "named"),
    [
        (["CD", "XX", "ZZ"], "'XX', 'ZZ'"),
        (["EU"], "'EU'"),  # reserved, but not one country
        (["XK"], "'XK'"),  # user-assigned, not ISO
        (["COD"], "'COD'"),  # alpha-3
        (["C"], "'C'"),
        ([42], "42"),
        (["Worldwide"], "'Worldwide'"),  # the ERN spelling is not a metadata.json code
    ],
)
def test_unknown_territories_are_named(codes: list[object], named: str) -> None:
    assert named in str(refused(R.META_BAD_TERRITORY, normalise_territories, codes))


def test_no_territory_at_all_is_missing() -> None:
    refused(R.META_MISSING_FIELD, normalise_territories, [])


def test_every_iso_country_is_known() -> None:
    assert len(COUNTRY_CODES) == 249 and {"CD", "CG", "GB", "ZA"} <= COUNTRY_CODES


# --------------------------------------------------------------------------- dates


def test_calendar_dates_parse() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    assert parse_date(" 2026-08-18 ") == date(2026, 8, 18)


@pytest.mark.parametrize(
    "bad",
    ["2026-13-45", "2026-02-30", "2025-02-29", "20260818", "2026-W33-1", "18/08/2026",
     "2026-8-1", "", "2026-08-18T00:00:00Z", "2026-०८-18"],
)  # fmt: skip
def test_bad_dates_are_refused(bad: str) -> None:
    refused(R.META_BAD_DATE, parse_date, bad)


def test_timestamps_need_an_offset() -> None:
    assert parse_timestamp("2026-08-18T08:23:20Z") == datetime(2026, 8, 18, 8, 23, 20, tzinfo=UTC)
    plus_one = timezone(timedelta(hours=1))
    assert parse_timestamp("2026-08-18T09:23:20.5+01:00") == datetime(
        2026, 8, 18, 9, 23, 20, 500000, tzinfo=plus_one
    )
    for bad in ("2026-08-18T08:23:20", "2026-08-18 08:23:20Z", "2026-08-18T25:00:00Z"):
        refused(R.META_BAD_DATE, parse_timestamp, bad)


def test_fields_that_allow_timestamps_keep_the_date_as_written() -> None:
    assert parse_date_or_timestamp("2017-04-25") == date(2017, 4, 25)
    assert parse_date_or_timestamp("2017-04-25T23:30:00-05:00") == date(2017, 4, 25)
    refused(R.META_BAD_DATE, parse_date_or_timestamp, "2017-04-31")


# --------------------------------------------------------------------------- text


def test_text_is_nfc_normalised_so_both_spellings_of_e_acute_match() -> None:
    decomposed = "Cafe\u0301 Kinshasa"
    assert clean_text(decomposed, 100) == "Café Kinshasa" == clean_text("Café Kinshasa", 100)


def test_whitespace_collapses_and_controls_are_removed() -> None:
    assert clean_text("  Motema\t\n na \u00a0 ngai\x00\x1b \u202e ", 100) == "Motema na ngai"


def test_length_is_counted_after_normalisation() -> None:
    assert clean_text("e\u0301" * TITLE_MAX, TITLE_MAX) == "é" * TITLE_MAX
    error = refused(R.META_TEXT_TOO_LONG, clean_text, "x" * (TITLE_MAX + 1), TITLE_MAX)
    assert error.problem("title").message == "title is 301 characters long, over the limit of 300"


def test_blank_text_is_missing_unless_optional() -> None:
    refused(R.META_MISSING_FIELD, clean_text, " \x00\t ", 10)
    assert clean_optional_text(" \t", 10) is None
    assert clean_optional_text(None, 10) is None


def test_genres_map_by_id_or_name() -> None:
    assert genre_id("Coupé-Décalé") == "coupe_decale"
    assert genre_id("bongo_flava") == "bongo_flava"
    assert "Space Polka" in str(refused(R.META_UNKNOWN_GENRE, genre_id, "Space Polka"))


# --------------------------------------------------------------------------- splits


def shares(*values: object) -> list[tuple[str, str | None, object]]:
    return [(f"pay_{i}", f"Payee {i}", v) for i, v in enumerate(values)]


def test_decimal_shares_summing_to_100_pass_exactly() -> None:
    result = validate_splits("recording", shares("33.33", "33.33", "33.34"))
    assert [s.share for s in result] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def test_float_numbers_are_read_as_their_decimal_spelling() -> None:
    assert sum([16.75, 52.01, 31.24]) != 100  # what binary floats would have concluded
    result = validate_splits("publishing", shares(16.75, 52.01, 31.24))
    assert sum(s.share for s in result) == 100


def test_three_thirds_rounded_down_are_not_100() -> None:
    error = refused(R.META_SPLITS_NOT_100, validate_splits, "recording", shares(*["33.33"] * 3))
    assert str(error) == "recording splits sum to 99.99%, not 100%"


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (("100", "0"), "is 0, not above 0"),
        ((150, -50), "is -50, not above 0"),
        (("-5", "105"), "not a positive decimal number"),
        (("abc",), "not a positive decimal number"),
        (("NaN",), "not a positive decimal number"),
        ((True,), "not a number"),
        ((None,), "not a number"),
        (("50%", "50"), "not a positive decimal number"),
        ((), "no shares are declared"),
    ],
)
def test_bad_shares_are_named(values: tuple[object, ...], said: str) -> None:
    error = refused(R.META_SPLITS_NOT_100, validate_splits, "recording", shares(*values))
    assert said in str(error)


def test_a_payee_listed_twice_is_refused() -> None:
    entries = [("pay_a", None, "50"), ("pay_a", None, "50")]
    assert "listed twice" in str(refused(R.META_SPLITS_NOT_100, validate_splits, "x", entries))


def test_a_blank_payee_id_is_missing() -> None:
    error = refused(R.META_MISSING_FIELD, validate_splits, "x", [(" ", None, "100")])
    assert "payee_id of share 1" in str(error)


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "good", ["song.flac", "resources/190295810726_01.flac", "my song (final).wav", "ünï.flac"]
)
def test_safe_paths_are_returned_unchanged(good: str) -> None:
    assert safe_relative_path(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "/etc/passwd",
        "../../etc/passwd",
        "resources/../../etc/passwd",
        "..",
        "..\\..\\windows\\win.ini",
        "C:\\audio\\song.wav",
        "C:song.wav",
        "file:///etc/passwd",
        "https://example.com/song.flac",
        "resources//song.flac",
        "./song.flac",
        "resources/",
        "song\x00.flac",
        "song\n.flac",
        "\u202egalf.wav",  # right-to-left override: displays as vaw.flag
    ],
)
def test_unsafe_paths_are_refused(bad: str) -> None:
    refused(R.UNSAFE_PATH, safe_relative_path, bad)


def test_blank_and_overlong_paths() -> None:
    refused(R.META_MISSING_FIELD, safe_relative_path, "  ")
    refused(R.META_TEXT_TOO_LONG, safe_relative_path, "a" * 256 + ".flac")
