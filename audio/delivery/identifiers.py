"""Validation and normalisation of the values a delivery declares.

Every function here takes a value as a sender typed it and returns the one
canonical form the catalog stores, or raises :class:`InvalidField` carrying the
rejection reason. They know nothing about where the value sat in the delivery:
metadata.json and ERN parsing both call them and attach the field name.

Choices worth knowing:

* ISRC country prefixes are only checked to be two letters: prefixes such as
  ``QM`` and ``QZ`` are issued by the IFPI and are not countries.
* Territory ``UK`` is accepted and stored as ``GB``. ISO 3166-1 reserves ``UK``
  "exceptionally" precisely because it is in wide use for the United Kingdom,
  so its meaning is unambiguous, and refusing a whole release over it would cost
  an artist a release date for no safety gain. No other reserved code (``EU``,
  ``EL``, user-assigned ``XK``...) is accepted: their meanings vary.
* ``WW`` means worldwide and absorbs any other codes listed beside it.
* Control characters in text are removed, not refused: there is no rejection
  code for them and they are invariably copy-paste debris. Bidirectional
  override characters are removed too, as they can make a title display as
  something other than what it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import pycountry

from audio.delivery.model import InvalidField, RightShare
from audio.reasons import Reason
from audio.taxonomy import normalise_genre

__all__ = [
    "COUNTRY_CODES",
    "ID_MAX",
    "LANGUAGE_MAX",
    "NAME_MAX",
    "PATH_MAX",
    "PLINE_MAX",
    "RELEASE_TYPE_MAX",
    "TITLE_MAX",
    "WORLDWIDE",
    "clean_optional_text",
    "clean_text",
    "format_isrc",
    "genre_id",
    "gs1_check_digit",
    "normalise_isrc",
    "normalise_territories",
    "normalise_upc",
    "parse_date",
    "parse_date_or_timestamp",
    "parse_timestamp",
    "safe_relative_path",
    "shown",
    "validate_splits",
]

# Length limits (characters, after normalisation): generous for real titles and
# names, small enough that a pasted lyric sheet or a binary blob is refused.
TITLE_MAX = 300
NAME_MAX = 200
ID_MAX = 100
PLINE_MAX = 500
LANGUAGE_MAX = 35  # the longest plausible BCP 47 tag
RELEASE_TYPE_MAX = 50
PATH_MAX = 1024
PATH_SEGMENT_MAX = 255  # what common file systems allow per name

WORLDWIDE = "WW"
COUNTRY_CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
TERRITORY_ALIASES = {"UK": "GB"}  # see the module docstring

_ISRC = re.compile(r"([A-Z]{2})[- ]?([A-Z0-9]{3})[- ]?([0-9]{2})[- ]?([0-9]{5})", re.ASCII)
_GTIN = re.compile(r"[0-9]{12,14}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"  # date and time
    r"(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})",  # fraction, then a required offset
    re.ASCII,
)
_SHARE = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SHOWN_MAX = 60


def shown(value: object) -> str:
    """A value quoted for a message: escaped, and cut short so a 2 MB blob stays one line."""
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else f"{text[: _SHOWN_MAX - 5]}...{text[-2:]}"


# --------------------------------------------------------------------------- text


def clean_text(value: str, max_length: int) -> str:
    """NFC text with controls removed and whitespace collapsed; blank is a missing field.

    NFC matters because "é" typed on a Mac (e + combining accent) and on a phone
    (one code point) must be the same title in search and deduplication.
    """
    kept = "".join(ch for ch in value if ch.isspace() or not _is_debris(ch))
    text = unicodedata.normalize("NFC", " ".join(kept.split()))
    if not text:
        raise InvalidField(Reason.META_MISSING_FIELD)
    if len(text) > max_length:
        raise InvalidField(Reason.META_TEXT_TOO_LONG, length=len(text), max_length=max_length)
    return text


def clean_optional_text(value: str | None, max_length: int) -> str | None:
    """:func:`clean_text` for a field that may be left out: blank becomes ``None``."""
    try:
        return clean_text(value or "", max_length)
    except InvalidField as exc:
        if exc.reason is Reason.META_MISSING_FIELD:
            return None
        raise


def _is_debris(ch: str) -> bool:
    """Control characters, lone surrogates and bidi overrides: never wanted in catalog text."""
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS


# --------------------------------------------------------------------------- codes


def normalise_isrc(value: str) -> str:
    """``"cd-cwx-26-00042"`` -> ``"CDCWX2600042"``; separators only where the format has them."""
    text = value.strip()
    match = _ISRC.fullmatch(text.upper()) if text.isascii() else None
    if match is None:
        raise InvalidField(Reason.META_BAD_ISRC, value=shown(value))
    return "".join(match.groups())


def format_isrc(isrc: str) -> str:
    """The hyphenated display form ``CC-XXX-YY-NNNNN`` of a normalised ISRC."""
    return f"{isrc[:2]}-{isrc[2:5]}-{isrc[5:7]}-{isrc[7:]}"


def gs1_check_digit(body: str) -> int:
    """The GS1 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_upc(value: str) -> str:
    """A UPC-A (12), EAN-13 or GTIN-14 as digits only, its check digit verified."""
    digits = re.sub(r"[ -]", "", value.strip())
    if not _GTIN.fullmatch(digits):
        note = f"{len(digits)} characters; 12, 13 or 14 digits expected"
        raise InvalidField(Reason.META_BAD_UPC, note, value=shown(value))
    expected = gs1_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        note = f"check digit should be {expected}"
        raise InvalidField(Reason.META_BAD_UPC, note, value=shown(value))
    return digits


def normalise_territories(codes: Iterable[object]) -> tuple[str, ...]:
    """``("WW",)`` or the sorted, de-duplicated ISO 3166-1 alpha-2 codes."""
    valid: set[str] = set()
    bad: list[str] = []
    for raw in codes:
        code = raw.strip().upper() if isinstance(raw, str) else ""
        code = TERRITORY_ALIASES.get(code, code)
        if code == WORLDWIDE or code in COUNTRY_CODES:
            valid.add(code)
        else:
            bad.append(shown(raw))
    if bad:
        raise InvalidField(Reason.META_BAD_TERRITORY, value=", ".join(bad))
    if not valid:
        raise InvalidField(Reason.META_MISSING_FIELD)
    return (WORLDWIDE,) if WORLDWIDE in valid else tuple(sorted(valid))


def genre_id(text: str) -> str:
    """The taxonomy id a genre id or display name ("Coupé-Décalé") stands for."""
    name = clean_text(text, NAME_MAX)
    found = normalise_genre(name)
    if found is None:
        raise InvalidField(Reason.META_UNKNOWN_GENRE, value=shown(text))
    return found


# --------------------------------------------------------------------------- dates


def parse_date(value: str) -> date:
    """A calendar date written exactly ``YYYY-MM-DD`` (not week dates or compact forms)."""
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidField(Reason.META_BAD_DATE, value=shown(value))


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset (``Z`` or ``+01:00``): a naive one is ambiguous."""
    text = value.strip()
    try:
        if _TIMESTAMP.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    note = "expected YYYY-MM-DDThh:mm:ss with Z or an offset"
    raise InvalidField(Reason.META_BAD_DATE, note, value=shown(value))


def parse_date_or_timestamp(value: str) -> date:
    """A date, or the calendar date of a timestamp as written (its own offset, not UTC)."""
    try:
        return parse_date(value)
    except InvalidField:
        pass
    try:
        return parse_timestamp(value).date()
    except InvalidField:
        raise InvalidField(Reason.META_BAD_DATE, value=shown(value)) from None


# --------------------------------------------------------------------------- rights splits

ShareEntry = tuple[str, str | None, object]  # (payee id, payee name, share as declared)


def validate_splits(right_type: str, entries: Sequence[ShareEntry]) -> tuple[RightShare, ...]:
    """Shares of one right that are each above zero and sum to exactly 100.

    Shares are Decimals end to end ("33.33" three times is 99.99, not 100), so
    what we pay out is exactly what the rights holders agreed.
    """
    notes: list[str] = []
    shares: list[RightShare] = []
    for number, (payee, name, raw) in enumerate(entries, start=1):
        try:
            payee_id = clean_text(payee, ID_MAX)
        except InvalidField as exc:
            raise InvalidField(exc.reason, f"payee_id of share {number}", **exc.details) from None
        try:
            share = _share(raw)
        except ValueError as exc:
            notes.append(f"share {number} (payee {payee_id}) {exc}")
            continue
        if any(s.payee_id == payee_id for s in shares):
            notes.append(f"payee {payee_id} is listed twice")
        shares.append(RightShare(payee_id, clean_optional_text(name, NAME_MAX), share))
    if not entries:
        notes.append("no shares are declared")
    total = sum((s.share for s in shares), Decimal(0))
    if notes or total != 100:
        every_share_read = len(shares) == len(entries)
        raise InvalidField(
            Reason.META_SPLITS_NOT_100,
            "; ".join(notes) or None,
            right_type=right_type,
            total=f"{total:f}" if every_share_read else "?",
        )
    return tuple(shares)


def _share(raw: object) -> Decimal:
    """A finite percentage above 0 and at most 100; ValueError says what is wrong with it."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise ValueError(f"is {shown(raw)}, not a number")
    if isinstance(raw, str):
        if not _SHARE.fullmatch(raw.strip()):
            raise ValueError(f"is {shown(raw)}, not a positive decimal number")
        raw = raw.strip()
    try:
        # repr keeps a Python float's shortest exact spelling: 0.1 becomes Decimal("0.1")
        share = Decimal(repr(raw) if isinstance(raw, float) else raw)
    except InvalidOperation:
        raise ValueError(f"is {shown(raw)}, not a number") from None
    if not share.is_finite() or share <= 0:
        raise ValueError(f"is {share}, not above 0")
    if share > 100:
        raise ValueError(f"is {share}, over 100")
    return share


# --------------------------------------------------------------------------- paths


def safe_relative_path(name: str) -> str:
    """A path that stays inside the delivery folder when joined onto it, returned unchanged.

    Refused: absolute paths, ``..`` and ``.`` segments, empty segments, backslashes
    (Windows separators a POSIX check would miss), any colon (drive letters,
    ``file://`` and other URL schemes, NTFS streams) and control or format
    characters. The name is not normalised: it must match the file on disk byte
    for byte.
    """
    if not name.strip():
        raise InvalidField(Reason.META_MISSING_FIELD)
    why = _path_danger(name)
    if why:
        raise InvalidField(Reason.UNSAFE_PATH, why, path=shown(name))
    longest = max(len(s) for s in name.split("/"))
    if len(name) > PATH_MAX or longest > PATH_SEGMENT_MAX:
        limit = PATH_MAX if len(name) > PATH_MAX else PATH_SEGMENT_MAX
        length = len(name) if len(name) > PATH_MAX else longest
        raise InvalidField(Reason.META_TEXT_TOO_LONG, length=length, max_length=limit)
    return name


def _path_danger(name: str) -> str | None:
    """Why ``name`` could escape or confuse the delivery folder, or ``None`` if it cannot."""
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return "it contains control or invisible characters"
    if "\\" in name:
        return "it contains a backslash"
    if ":" in name:
        return "it contains a colon (URL scheme or drive letter)"
    if name.startswith("/"):
        return "it is absolute"
    segments = name.split("/")
    if ".." in segments:
        return "it climbs out with '..'"
    if "." in segments or "" in segments:
        return "it has an empty or '.' segment"
    return None
