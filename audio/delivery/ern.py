"""DDEX ERN 4.3 NewReleaseMessage deliveries: a label's release, one track per SoundRecording.

The XML comes from outside, so it is parsed with defusedxml and any DTD is
refused outright (XML_UNSAFE): entity bombs and external entities are never
expanded, whatever they declare. Well-formed XML that is not a coherent
NewReleaseMessage (wrong root, no SoundRecording, a release or deal pointing at
a resource, release or party the message never defines) is ERN_INVALID for the
whole delivery, because nothing in it can be trusted to mean what it says.

Per track the same rules as metadata.json apply, with the same reason codes:
an ISRC or title the message lacks is META_MISSING_FIELD, a bad ICPN is
META_BAD_UPC, and so on; a malformed ERN-only value (Duration, HashSumValue,
SequenceNumber) is ERN_INVALID for that track.

Reading choices:

* Elements are matched by local name, so the parser works whatever prefix the
  sender binds the ERN namespace to; roots in another DDEX ERN major version
  (3.x has a different layout) are refused.
* The track title is ``DisplayTitle/TitleText`` (plus ``SubTitle``), which
  carries no artist prefix; ``DisplayTitleText`` is the fallback. The DDEX sample
  shows why: its DisplayTitleText is "RIOPY: I Love You", its title "I Love You".
* Genre comes from the track's TrackRelease, else the SoundRecording, else the
  main Release; a SubGenre that maps onto the taxonomy wins over its GenreText.
* Territories are the union of the track's deals (TrackRelease deals, else the
  main Release's) regardless of validity dates; "Worldwide" is ``WW``, and
  Worldwide minus ExcludedTerritoryCode is spelt out as country codes. Deals that
  differ only in territory are merged into one :class:`Deal`.
* Rights splits come from ResourceRightsController (recording) and
  WorkRightsController (publishing) when present and must then sum to 100; an
  ERN without them is not an error. Labels settle publishing through collecting
  societies rather than in the ERN (the DDEX sample carries none), so ingestion
  cannot demand splits the standard does not require.
* Catalog ids (artist, label, payee) are read from ``ProprietaryId`` elements in
  the ``CongoWave`` namespace only: another namespace holds the sender's own ids.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from audio.delivery.identifiers import (
    COUNTRY_CODES,
    LANGUAGE_MAX,
    NAME_MAX,
    PLINE_MAX,
    RELEASE_TYPE_MAX,
    TITLE_MAX,
    WORLDWIDE,
    clean_text,
    normalise_isrc,
    normalise_territories,
    normalise_upc,
    parse_date_or_timestamp,
    parse_timestamp,
    safe_relative_path,
    shown,
    validate_splits,
)
from audio.delivery.model import (
    ArtistCredit,
    Deal,
    InvalidField,
    ParsedDelivery,
    ParsedTrack,
    Problem,
    ProblemLog,
    RightShare,
    TrackDelivery,
)
from audio.reasons import Reason
from audio.taxonomy import normalise_genre

__all__ = ["ERN_NAMESPACE", "PLATFORM_NAMESPACE", "parse_ern", "parse_iso_duration"]

ERN_NAMESPACE = "http://ddex.net/xml/ern/43"
_ERN_NAMESPACE_4X = re.compile(r"http://ddex\.net/xml/ern/4[0-9]+")
PLATFORM_NAMESPACE = "CongoWave"  # ProprietaryId namespace under which senders quote our ids
DEFAULT_FILE = "ERN message"
_DDEX_WORLDWIDE = "Worldwide"
_RELEASE_TYPES = {
    "album": "album",
    "ep": "ep",
    "single": "single",
    "singleresourcerelease": "single",
}
_DURATION = re.compile(
    r"P(?:(?P<y>[0-9]+)Y)?(?:(?P<mo>[0-9]+)M)?(?:(?P<d>[0-9]+)D)?"
    r"(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<mi>[0-9]+)M)?(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?",
    re.ASCII,
)
_MD5 = re.compile(r"[0-9a-fA-F]{32}", re.ASCII)
_PARTIAL_DATE = re.compile(r"[0-9]{4}(-[0-9]{2})?", re.ASCII)

T = TypeVar("T")


class _Invalid(Exception):
    """The message as a whole is not a usable NewReleaseMessage (becomes ERN_INVALID)."""


# --------------------------------------------------------------------------- entry point


def parse_ern(data: bytes, delivery_id: str, *, file: str = DEFAULT_FILE) -> ParsedDelivery:
    """Parse one ERN message into its tracks; never raises on bad input."""
    root = _parse_xml(data, file)
    if isinstance(root, Problem):
        return ParsedDelivery(delivery_id, "ern", problems=(root,))
    try:
        message = _Message.index(root)
    except _Invalid as exc:
        return ParsedDelivery(delivery_id, "ern", problems=(_invalid(file, str(exc)),))
    problems = [_invalid(file, detail) for detail in message.dangling_references()]
    submitted_at, header_problems = message.submitted_at()
    problems += header_problems
    readers = [
        _TrackReader(message, recording, delivery_id, file, submitted_at)
        for recording in message.recordings
    ]
    tracks = tuple(reader.read() for reader in readers)
    problems += _unused_deal_problems(message, {r for t in readers for r in t.deal_releases})
    return ParsedDelivery(delivery_id, "ern", tracks=tracks, problems=tuple(problems))


def _invalid(file: str, detail: str, field: str | None = None) -> Problem:
    return Problem(Reason.ERN_INVALID, Reason.ERN_INVALID.message(file=file, detail=detail), field)


def _parse_xml(data: bytes, file: str) -> ET.Element | Problem:
    """The document's root with namespaces stripped, or the XML_* problem refusing it."""
    try:
        root = defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        return Problem(Reason.XML_UNSAFE, Reason.XML_UNSAFE.message(detail=exc))
    except ET.ParseError as exc:
        return Problem(Reason.XML_MALFORMED, Reason.XML_MALFORMED.message(file=file, detail=exc))
    namespace, _, local = root.tag.rpartition("}")
    namespace = namespace.lstrip("{")
    if local != "NewReleaseMessage":
        return _invalid(file, f"the root element is {local}, not NewReleaseMessage")
    if namespace and not _ERN_NAMESPACE_4X.fullmatch(namespace):
        return _invalid(file, f"namespace {namespace} is not DDEX ERN 4 ({ERN_NAMESPACE})")
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


# --------------------------------------------------------------------------- small readers


def _text(element: ET.Element | None, path: str) -> str | None:
    """The stripped text at ``path`` under ``element``; ``None`` when absent or empty."""
    if element is None:
        return None
    found = element.find(path)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def _first_text(element: ET.Element | None, paths: Iterable[str]) -> str | None:
    return next((t for t in (_text(element, p) for p in paths) if t is not None), None)


def _preferred(element: ET.Element | None, tag: str) -> ET.Element | None:
    """The ``tag`` child meant for everywhere (no territory, or Worldwide), else the first."""
    if element is None:
        return None
    children = element.findall(tag)
    worldwide = [c for c in children if c.get("ApplicableTerritoryCode") in (None, _DDEX_WORLDWIDE)]
    return (worldwide or children or [None])[0]


def _title(element: ET.Element | None) -> str | None:
    """A resource's or release's title without artist prefix (see the module docstring)."""
    display = _preferred(element, "DisplayTitle")
    title = _text(display, "TitleText")
    if title is not None:
        subtitle = _text(display, "SubTitle")
        return f"{title} ({subtitle})" if subtitle else title
    return _text(element, "DisplayTitleText") or _text(element, "ReferenceTitle/TitleText")


def _territory(code: str) -> str:
    return WORLDWIDE if code.strip() == _DDEX_WORLDWIDE else code


def parse_iso_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration such as ``PT4M23.583S`` (263.583).

    Years and months have no fixed length, so they are accepted only as zero
    (some tools write ``P0Y0M0DT0H4M23S``); ValueError says why a value is refused.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"{shown(text)} is not an ISO 8601 duration")
    parts = {k: Decimal(v) for k, v in match.groupdict().items() if v is not None}
    if parts.get("y", 0) or parts.get("mo", 0):
        raise ValueError(f"{shown(text)} uses years or months, which have no fixed length")
    seconds = (
        parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("mi", 0) * 60
    ) + parts.get("s", Decimal(0))
    if seconds <= 0:
        raise ValueError(f"{shown(text)} is not a positive duration")
    return float(seconds)


# --------------------------------------------------------------------------- the message


@dataclass
class _Message:
    """The message's lists, indexed by their message-local references."""

    root: ET.Element
    parties: dict[str, ET.Element]
    resources: dict[str, ET.Element]
    recordings: list[ET.Element]
    releases: list[ET.Element]  # main releases (Release elements)
    track_releases: list[ET.Element]
    deals: dict[str, list[ET.Element]]  # release reference -> DealTerms

    @classmethod
    def index(cls, root: ET.Element) -> _Message:
        """Index the message, or raise :class:`_Invalid` if a required part is missing."""
        for part in ("MessageHeader", "ResourceList", "ReleaseList"):
            _required(root, part)
        recordings = root.findall("ResourceList/SoundRecording")
        releases = root.findall("ReleaseList/Release")
        if not recordings:
            raise _Invalid("its ResourceList has no SoundRecording")
        if not releases:
            raise _Invalid("its ReleaseList has no Release")
        deals: dict[str, list[ET.Element]] = {}
        for release_deal in root.findall("DealList/ReleaseDeal"):
            for reference in _texts(release_deal, "DealReleaseReference"):
                deals.setdefault(reference, []).extend(release_deal.findall("Deal/DealTerms"))
        return cls(
            root=root,
            parties=_by_reference(root.findall("PartyList/Party"), "PartyReference", "Party"),
            resources=_by_reference(list(_required(root, "ResourceList")), "ResourceReference"),
            recordings=recordings,
            releases=releases,
            track_releases=root.findall("ReleaseList/TrackRelease"),
            deals=deals,
        )

    def dangling_references(self) -> list[str]:
        """Every reference to a resource, release or party the message does not define."""
        release_refs = {
            r for e in self.releases + self.track_releases for r in _texts(e, "ReleaseReference")
        }
        problems = []
        release_list = self.root.find("ReleaseList")
        for tag in ("ReleaseResourceReference", "LinkedReleaseResourceReference"):
            for ref in _all_texts(release_list, tag):
                if ref not in self.resources:
                    problems.append(
                        f"the ReleaseList refers to resource {ref}, absent from its ResourceList"
                    )
        for ref in _all_texts(self.root.find("DealList"), "DealReleaseReference"):
            if ref not in release_refs:
                problems.append(
                    f"a ReleaseDeal refers to release {ref}, absent from its ReleaseList"
                )
        for element in self.root.iter():
            is_party_ref = (
                element.tag.endswith("PartyReference") and element.tag != "PartyReference"
            )
            if is_party_ref or element.tag == "ReleaseLabelReference":
                ref = (element.text or "").strip()
                if ref not in self.parties:
                    problems.append(f"{element.tag} {ref or '(empty)'} is not in its PartyList")
        return sorted(set(problems))

    def submitted_at(self) -> tuple[datetime | None, list[Problem]]:
        """MessageCreatedDateTime, or a META_BAD_DATE problem when it is malformed."""
        text = _text(self.root, "MessageHeader/MessageCreatedDateTime")
        if text is None:
            return None, []
        try:
            return parse_timestamp(text), []
        except InvalidField as exc:
            return None, [exc.problem("MessageHeader/MessageCreatedDateTime")]

    def party(self, reference: str | None) -> ET.Element | None:
        return self.parties.get(reference or "")

    def main_release_of(self, resource: str) -> tuple[ET.Element | None, str | None]:
        """The main Release listing ``resource``, and the item's SequenceNumber there."""
        for release in self.releases:
            for item in release.iter("ResourceGroupContentItem"):
                if _text(item, "ReleaseResourceReference") == resource:
                    return release, _text(item, "SequenceNumber")
        return None, None

    def track_releases_of(self, resource: str) -> list[ET.Element]:
        return [r for r in self.track_releases if resource in _texts(r, "ReleaseResourceReference")]

    def deal_terms(self, releases: Iterable[ET.Element | None]) -> list[ET.Element]:
        return [
            terms
            for release in releases
            if release is not None
            for ref in _texts(release, "ReleaseReference")
            for terms in self.deals.get(ref, [])
        ]


def _required(root: ET.Element, path: str) -> ET.Element:
    found = root.find(path)
    if found is None:
        raise _Invalid(f"it has no {path}")
    return found


def _texts(element: ET.Element | None, path: str) -> list[str]:
    if element is None:
        return []
    return [t for t in ((e.text or "").strip() for e in element.findall(path)) if t]


def _all_texts(element: ET.Element | None, tag: str) -> Iterator[str]:
    """Texts of every ``tag`` descendant (empty ones as "", so they count as dangling)."""
    if element is not None:
        for found in element.iter(tag):
            yield (found.text or "").strip()


def _by_reference(
    elements: list[ET.Element], tag: str, what: str | None = None
) -> dict[str, ET.Element]:
    """Elements keyed by their reference; a missing or repeated one makes the message invalid."""
    index: dict[str, ET.Element] = {}
    for element in elements:
        ref = _text(element, tag)
        name = what or element.tag
        if ref is None:
            raise _Invalid(f"a {name} has no {tag}")
        if ref in index:
            raise _Invalid(f"{tag} {ref} is defined twice")
        index[ref] = element
    return index


def _platform_id(party: ET.Element | None) -> str | None:
    """The CongoWave catalog id a party carries, if the sender quoted one."""
    if party is None:
        return None
    for element in party.findall("PartyId/ProprietaryId"):
        if element.get("Namespace") == PLATFORM_NAMESPACE and (element.text or "").strip():
            return (element.text or "").strip()
    return None


def _party_name(party: ET.Element | None) -> str | None:
    return _text(party, "PartyName/FullName")


# --------------------------------------------------------------------------- one track


@dataclass
class _TrackReader:
    """Reads one SoundRecording (and what its releases and deals say about it) into a track."""

    message: _Message
    recording: ET.Element
    delivery_id: str
    file: str
    submitted_at: datetime | None
    log: ProblemLog = field(default_factory=ProblemLog)
    deal_releases: set[str] = field(default_factory=set)  # releases whose deals the track read

    def __post_init__(self) -> None:
        self.reference = _text(self.recording, "ResourceReference") or "?"
        self.source = f"SoundRecording {self.reference}"
        self.release, self.sequence = self.message.main_release_of(self.reference)
        self.track_releases = self.message.track_releases_of(self.reference)

    # -- plumbing

    def at(self, path: str) -> str:
        return f"{self.source}/{path}"

    def required(self, path: str, raw: str | None, validate: Callable[[str], T]) -> T | None:
        """``validate(raw)``, or a META_MISSING_FIELD problem when the message lacks it."""
        if raw is None:
            self.log.add(Reason.META_MISSING_FIELD, self.at(path))
            return None
        return self.log.check(self.at(path), validate, raw)

    def optional(self, path: str, raw: str | None, validate: Callable[[str], T]) -> T | None:
        return None if raw is None else self.log.check(self.at(path), validate, raw)

    def invalid(self, path: str, detail: str) -> None:
        self.log.problems.append(_invalid(self.file, f"{self.source} {detail}", self.at(path)))

    # -- the track

    def read(self) -> ParsedTrack:
        isrc_raw = _first_text(
            self.recording,
            ("SoundRecordingEdition/ResourceId/ISRC", "ResourceId/ISRC", "SoundRecordingId/ISRC"),
        )
        values: dict[str, Any] = {
            "isrc": self.required("ISRC", isrc_raw, normalise_isrc),
            "title": self.required("DisplayTitle", _title(self.recording), _clean(TITLE_MAX)),
            "artists": self.artists(),
            "album_title": self.optional(
                "Release/DisplayTitle", _title(self.release), _clean(TITLE_MAX)
            ),
            "upc": self.upc(),
            "release_type": self.release_type(),
            "genre": self.genre(),
            "language": self.optional(
                "LanguageOfPerformance",
                _text(self.recording, "LanguageOfPerformance"),
                _clean(LANGUAGE_MAX),
            ),
            "explicit": self.explicit(),
            "label_id": None,
            "label_name": None,
            "pline": self.pline(),
            "declared_duration_s": self.duration(),
            "track_number": self.track_number(),
            "recording_splits": self.splits("ResourceRightsController", "recording"),
            "publishing_splits": self.splits("WorkRightsController", "publishing"),
        }
        values["label_id"], values["label_name"] = self.label()
        values["audio_file"], values["audio_md5"] = self.audio_file(), self.audio_md5()
        values["deals"] = deals = self.deals()
        values["territories"] = self.territories(deals)
        values["release_date"] = self.release_date(deals)
        isrc = values["isrc"]
        if self.log:
            return ParsedTrack(None, tuple(self.log.problems), source=self.source, isrc=isrc)
        track = TrackDelivery(
            delivery_id=self.delivery_id, form="ern", submitted_at=self.submitted_at, **values
        )
        return ParsedTrack(track, source=self.source, isrc=isrc)

    def artists(self) -> tuple[ArtistCredit, ...]:
        """DisplayArtists in SequenceNumber order, else the DisplayArtistName as main artist."""
        credits = []
        holder = (
            self.recording if self.recording.find("DisplayArtist") is not None else self.release
        )
        displayed = holder.findall("DisplayArtist") if holder is not None else []
        for number, element in enumerate(sorted(displayed, key=_sequence), start=1):
            party = self.message.party(_text(element, "ArtistPartyReference"))
            path = f"DisplayArtist[{number}]"
            name = self.required(path, _party_name(party), _clean(NAME_MAX))
            role = "featured" if _text(element, "DisplayArtistRole") == "FeaturedArtist" else "main"
            if name is not None:
                credits.append(ArtistCredit(name, role, _platform_id(party)))
        if not displayed:
            raw = _text(_preferred(self.recording, "DisplayArtistName"), ".")
            name = self.required("DisplayArtist", raw, _clean(NAME_MAX))
            credits += [ArtistCredit(name, "main")] if name else []
        if credits and not any(c.role == "main" for c in credits):
            self.log.add(Reason.META_MISSING_FIELD, self.at("DisplayArtist"), "no MainArtist")
        return tuple(credits)

    def upc(self) -> str | None:
        raw = _first_text(self.release, ("ReleaseId/ICPN", "RelatedRelease/ReleaseId/ICPN"))
        return self.optional("Release/ReleaseId/ICPN", raw, normalise_upc)

    def release_type(self) -> str | None:
        declared = [t for t in _texts(self.release, "ReleaseType") if t != "UserDefined"]
        if not declared:
            return None
        known = _RELEASE_TYPES.get(declared[0].lower())
        return known or self.optional(
            "Release/ReleaseType", declared[0].lower(), _clean(RELEASE_TYPE_MAX)
        )

    def genre(self) -> str | None:
        holders = [*self.track_releases, self.recording, self.release]
        genre = next(
            (g for g in (_preferred(h, "Genre") for h in holders) if _text(g, "GenreText")), None
        )
        if genre is None:
            self.log.add(Reason.META_MISSING_FIELD, self.at("Genre"))
            return None
        return self.log.check(self.at("Genre"), _genre, genre)

    def explicit(self) -> bool:
        warning = _text(self.recording, "ParentalWarningType") or _text(
            self.release, "ParentalWarningType"
        )
        return warning == "Explicit"

    def label(self) -> tuple[str | None, str | None]:
        """The default ReleaseLabelReference's party (or an ERN 3 style LabelName)."""
        references = [
            *(self.release.findall("ReleaseLabelReference") if self.release is not None else []),
            *(e for r in self.track_releases for e in r.findall("ReleaseLabelReference")),
        ]
        references.sort(key=lambda e: e.get("IsDefault") != "true")
        if references:
            party = self.message.party((references[0].text or "").strip())
            name = self.optional("ReleaseLabelReference", _party_name(party), _clean(NAME_MAX))
            return _platform_id(party), name
        raw = _text(self.release, "LabelName")
        return None, self.optional("Release/LabelName", raw, _clean(NAME_MAX))

    def pline(self) -> str | None:
        raw = _first_text(
            self.recording, ("SoundRecordingEdition/PLine/PLineText", "PLine/PLineText")
        ) or _text(self.release, "PLine/PLineText")
        return self.optional("PLine", raw, _clean(PLINE_MAX))

    def duration(self) -> float | None:
        raw = _text(self.recording, "Duration")
        if raw is None:
            return None
        try:
            return parse_iso_duration(raw)
        except ValueError as exc:
            self.invalid("Duration", f"Duration {exc}")
            return None

    def track_number(self) -> int | None:
        if self.sequence is None:
            return None
        if not self.sequence.isdigit() or int(self.sequence) < 1:
            self.invalid(
                "SequenceNumber", f"SequenceNumber {shown(self.sequence)} is not 1 or more"
            )
            return None
        return int(self.sequence)

    def _delivery_file(self) -> ET.Element | None:
        for details in self.recording.iter("TechnicalDetails"):
            for file in details.findall("DeliveryFile/File") + details.findall("File"):
                return file
        return None

    def audio_file(self) -> str | None:
        """The file's path in the delivery folder: URI (percent-decoded) or FilePath/FileName."""
        file = self._delivery_file()
        uri = _text(file, "URI")
        if uri is None and _text(file, "FileName"):
            folder = (_text(file, "FilePath") or "").rstrip("/")
            uri = f"{folder}/{_text(file, 'FileName')}" if folder else _text(file, "FileName")
        path = "TechnicalDetails/DeliveryFile/File/URI"
        return self.required(path, uri, lambda u: safe_relative_path(unquote(u)))

    def audio_md5(self) -> str | None:
        """The declared MD5; other hash algorithms are not ours to check, so they are ignored."""
        for hashsum in (self._delivery_file() or ET.Element("File")).findall("HashSum"):
            if (_text(hashsum, "Algorithm") or "").upper().replace("-", "") != "MD5":
                continue
            value = _text(hashsum, "HashSumValue") or ""
            if not _MD5.fullmatch(value):
                self.invalid("HashSum", f"HashSumValue {shown(value)} is not an MD5 hex digest")
                return None
            return value.lower()
        return None

    def splits(self, tag: str, right_type: str) -> tuple[RightShare, ...]:
        """The shares declared for one right (none declared is fine, see the module docstring)."""
        entries = []
        for controller in self.recording.findall(tag):
            party = self.message.party(_text(controller, "RightsControllerPartyReference"))
            share = _text(controller, "RightSharePercentage")
            entries.append((_platform_id(party) or "", _party_name(party), share))
        if not entries:
            return ()
        return self.log.check(self.at(tag), validate_splits, right_type, entries) or ()

    def deals(self) -> tuple[Deal, ...]:
        """The track's deals (its TrackRelease's, else its Release's), merged by terms."""
        holders = (
            self.track_releases if self.message.deal_terms(self.track_releases) else [self.release]
        )
        self.deal_releases = {
            r for h in holders if h is not None for r in _texts(h, "ReleaseReference")
        }
        at = self.at("Deal/DealTerms")
        deals = [_read_deal(t, self.log, at) for t in self.message.deal_terms(holders)]
        return _merge_deals([d for d in deals if d is not None])

    def territories(self, deals: tuple[Deal, ...]) -> tuple[str, ...] | None:
        if not deals:
            self.log.add(Reason.META_MISSING_FIELD, self.at("DealList"), "no deal covers the track")
            return None
        codes = {code for deal in deals for code in deal.territories}
        return (WORLDWIDE,) if WORLDWIDE in codes else tuple(sorted(codes))

    def release_date(self, deals: tuple[Deal, ...]) -> date | None:
        """ReleaseDate, else OriginalReleaseDate, else the earliest deal start.

        DDEX allows a bare year or year-month there; such a date is too vague to
        store as a day, so it is passed over rather than refused.
        """
        for tag in ("ReleaseDate", "OriginalReleaseDate"):
            raw = _text(_preferred(self.release, tag), ".")
            if raw is None or _PARTIAL_DATE.fullmatch(raw):
                continue
            return self.log.check(self.at(f"Release/{tag}"), parse_date_or_timestamp, raw)
        starts = [d.start_date for d in deals if d.start_date is not None]
        return min(starts) if starts else None


def _read_deal(terms: ET.Element, log: ProblemLog, at: str) -> Deal | None:
    """One DealTerms as a :class:`Deal`, or ``None`` (problems filed) if its territories are bad."""
    included = [_territory(c) for c in _texts(terms, "TerritoryCode")]
    excluded = [_territory(c) for c in _texts(terms, "ExcludedTerritoryCode")]
    territories = log.check(f"{at}/TerritoryCode", _deal_territories, included, excluded)
    dates = []
    for edge in ("Start", "End"):
        raw = _first_text(terms, (f"ValidityPeriod/{edge}Date", f"ValidityPeriod/{edge}DateTime"))
        checked = log.check(f"{at}/ValidityPeriod", parse_date_or_timestamp, raw) if raw else None
        dates.append(checked)
    if territories is None:
        return None
    use_types = _texts(terms, "UseType") + _texts(terms, "Usage/UseType")
    return Deal(
        territories=territories,
        commercial_models=tuple(sorted(set(_texts(terms, "CommercialModelType")))),
        use_types=tuple(sorted(set(use_types))),
        start_date=dates[0],
        end_date=dates[1],
    )


def _unused_deal_problems(message: _Message, used: set[str]) -> list[Problem]:
    """Defects in deals no track read (a release-level deal): still a defect of the delivery."""
    log = ProblemLog()
    for reference, terms in message.deals.items():
        if reference not in used:
            for element in terms:
                _read_deal(element, log, f"ReleaseDeal {reference}/Deal/DealTerms")
    return log.problems


def _clean(limit: int) -> Callable[[str], str]:
    return lambda raw: clean_text(raw, limit)


def _sequence(element: ET.Element) -> int:
    """A DisplayArtist's SequenceNumber, unnumbered ones last in document order."""
    value = element.get("SequenceNumber", "")
    return int(value) if value.isdigit() else 1 << 30


def _genre(genre: ET.Element) -> str:
    """The taxonomy id of a Genre: its SubGenre when that maps, else its GenreText."""
    text = _text(genre, "GenreText") or ""
    for candidate in (_text(genre, "SubGenre"), text):
        found = normalise_genre(candidate) if candidate else None
        if found is not None:
            return found
    sub = _text(genre, "SubGenre")
    note = f"nor is its SubGenre {shown(sub)}" if sub else None
    raise InvalidField(Reason.META_UNKNOWN_GENRE, note, value=shown(text))


def _deal_territories(included: list[str], excluded: list[str]) -> tuple[str, ...]:
    """The listed codes (or worldwide, when only exclusions are given) minus the exclusions."""
    if not included and not excluded:
        raise InvalidField(Reason.META_MISSING_FIELD, "the deal names no TerritoryCode")
    granted = normalise_territories(included) if included else (WORLDWIDE,)
    if not excluded:
        return granted
    removed = set(normalise_territories(excluded))
    base = COUNTRY_CODES if granted == (WORLDWIDE,) else set(granted)
    remaining = tuple(sorted(base - removed)) if WORLDWIDE not in removed else ()
    if not remaining:
        raise InvalidField(Reason.META_MISSING_FIELD, "its exclusions leave no territory")
    return remaining


def _merge_deals(deals: list[Deal]) -> tuple[Deal, ...]:
    """One deal per distinct terms, its territories the union of theirs (WW absorbs the rest)."""
    merged: dict[tuple[Any, ...], set[str]] = {}
    for deal in deals:
        key = (deal.commercial_models, deal.use_types, deal.start_date, deal.end_date)
        merged.setdefault(key, set()).update(deal.territories)
    return tuple(
        Deal(
            territories=(WORLDWIDE,) if WORLDWIDE in codes else tuple(sorted(codes)),
            commercial_models=models,
            use_types=uses,
            start_date=start,
            end_date=end,
        )
        for (models, uses, start, end), codes in merged.items()
    )
