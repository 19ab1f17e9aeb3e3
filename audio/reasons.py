"""Stable rejection reason codes for track deliveries.

Ingestion records *why* it refused a delivery with one of these codes, and the
sample world's expected-rejections manifest names the same codes, so that a
test can compare what ingestion decided with what the generator planted. The
codes are a contract: rename one and stored rejections and manifests stop
matching. Add codes freely; never reuse a retired one for a new meaning.

Each code carries a one-line message template for people reading a rejection
report; :meth:`Reason.message` fills it with whatever details the caller has.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason", "reason_codes"]


class Reason(StrEnum):
    """Why a delivery (or one track of it) was rejected; the value is the stored code."""

    # audio file
    AUDIO_EMPTY = "AUDIO_EMPTY"
    AUDIO_UNDECODABLE = "AUDIO_UNDECODABLE"
    AUDIO_TRUNCATED = "AUDIO_TRUNCATED"
    AUDIO_WRONG_EXTENSION = "AUDIO_WRONG_EXTENSION"
    AUDIO_FORMAT_NOT_ALLOWED = "AUDIO_FORMAT_NOT_ALLOWED"
    AUDIO_SAMPLE_RATE = "AUDIO_SAMPLE_RATE"
    AUDIO_CHANNELS = "AUDIO_CHANNELS"
    AUDIO_TOO_SHORT = "AUDIO_TOO_SHORT"
    AUDIO_TOO_LONG = "AUDIO_TOO_LONG"
    AUDIO_SILENT = "AUDIO_SILENT"
    AUDIO_CLIPPING = "AUDIO_CLIPPING"
    AUDIO_MISSING = "AUDIO_MISSING"
    AUDIO_CHECKSUM_MISMATCH = "AUDIO_CHECKSUM_MISMATCH"
    # metadata
    META_MALFORMED_JSON = "META_MALFORMED_JSON"
    META_MISSING_FIELD = "META_MISSING_FIELD"
    META_BAD_ISRC = "META_BAD_ISRC"
    META_BAD_UPC = "META_BAD_UPC"
    META_BAD_TERRITORY = "META_BAD_TERRITORY"
    META_BAD_DATE = "META_BAD_DATE"
    META_UNKNOWN_GENRE = "META_UNKNOWN_GENRE"
    META_SPLITS_NOT_100 = "META_SPLITS_NOT_100"
    META_TEXT_TOO_LONG = "META_TEXT_TOO_LONG"
    # delivery safety and DDEX
    UNSAFE_PATH = "UNSAFE_PATH"
    XML_UNSAFE = "XML_UNSAFE"
    XML_MALFORMED = "XML_MALFORMED"
    ERN_INVALID = "ERN_INVALID"
    # catalog
    DUPLICATE_AUDIO = "DUPLICATE_AUDIO"

    @property
    def template(self) -> str:
        """The message template, with ``{name}`` placeholders for details."""
        return _TEMPLATES[self]

    def message(self, **details: object) -> str:
        """The human message with the given details filled in.

        Details the caller does not have render as ``?`` instead of raising:
        a rejection report must never fail because one detail is unknown.
        """
        return self.template.format_map(_Lenient(details))


class _Lenient(dict):
    """A format mapping that shows a missing detail as ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"


_TEMPLATES: dict[Reason, str] = {
    Reason.AUDIO_EMPTY: "audio file {file} is empty (0 bytes)",
    Reason.AUDIO_UNDECODABLE: "audio file {file} is not decodable audio: {detail}",
    Reason.AUDIO_TRUNCATED: (
        "audio file {file} ends early: {decoded_s} s decoded of {declared_s} s in its header"
    ),
    Reason.AUDIO_WRONG_EXTENSION: (
        "audio file {file} holds {actual} data but is named as {extension}"
    ),
    Reason.AUDIO_FORMAT_NOT_ALLOWED: (
        "audio format {format} of {file} is not accepted (allowed: {allowed})"
    ),
    Reason.AUDIO_SAMPLE_RATE: (
        "sample rate {sample_rate} Hz of {file} is outside {min_hz}..{max_hz} Hz"
    ),
    Reason.AUDIO_CHANNELS: "{file} has {channels} channels; at most {max_channels} are accepted",
    Reason.AUDIO_TOO_SHORT: "{file} lasts {duration_s} s, under the minimum of {min_s} s",
    Reason.AUDIO_TOO_LONG: "{file} lasts {duration_s} s, over the maximum of {max_s} s",
    Reason.AUDIO_SILENT: "{file} is silent (peak {peak_dbfs} dBFS)",
    Reason.AUDIO_CLIPPING: "{file} is clipped: {clipped_pct}% of samples at full scale",
    Reason.AUDIO_MISSING: "audio file {file} named by the delivery is not in it",
    Reason.AUDIO_CHECKSUM_MISMATCH: (
        "{file} has MD5 {actual}, not the {declared} the delivery declares"
    ),
    Reason.META_MALFORMED_JSON: "{file} is not valid JSON: {detail}",
    Reason.META_MISSING_FIELD: "required field {field} is missing or empty",
    Reason.META_BAD_ISRC: "{value} is not a valid ISRC (CC-XXX-YY-NNNNN)",
    Reason.META_BAD_UPC: "{value} is not a valid UPC/EAN (length or GS1 check digit)",
    Reason.META_BAD_TERRITORY: "territory codes {value} are not ISO 3166-1 alpha-2 codes or WW",
    Reason.META_BAD_DATE: "{field} {value} is not a valid ISO 8601 date",
    Reason.META_UNKNOWN_GENRE: "genre {value} is not in the platform's taxonomy",
    Reason.META_SPLITS_NOT_100: "{right_type} splits sum to {total}%, not 100%",
    Reason.META_TEXT_TOO_LONG: (
        "{field} is {length} characters long, over the limit of {max_length}"
    ),
    Reason.UNSAFE_PATH: "path {path} is absolute or leaves the delivery folder",
    Reason.XML_UNSAFE: "XML declares a DTD or entities ({detail}); refused without expanding them",
    Reason.XML_MALFORMED: "{file} is not well-formed XML: {detail}",
    Reason.ERN_INVALID: "{file} is not a valid ERN 4.3 NewReleaseMessage: {detail}",
    Reason.DUPLICATE_AUDIO: (
        "audio of {isrc} duplicates catalog track {duplicate_of} (similarity {similarity})"
    ),
}


def reason_codes() -> frozenset[str]:
    """Every valid code, for validating stored rejections and manifests."""
    return frozenset(r.value for r in Reason)
