"""DDEX ERN 4.3 NewReleaseMessage documents for album deliveries.

Labels deliver whole releases as an ERN message plus the audio files it names,
so the sample world delivers one album that way. The element layout follows the
public SimpleAudioSingle sample (``shared/formats/ddex-ern``): the root element
is in the ``http://ddex.net/xml/ern/43`` namespace and every child is
unqualified, SoundRecordings keep their ISRC, PLine and delivery file (URI and
MD5) under ``SoundRecordingEdition``, and the DealList holds one deal per
territory and commercial model. One parser can therefore read both the sample
and what is generated here.

Beyond the sample, an album carries what ingestion needs per track: a
``TrackRelease`` per recording (its own genre and deals, because territories
differ per track in the catalog), the language of performance, and the rights
splits as ``ResourceRightsController`` (recording) and ``WorkRightsController``
(publishing) shares.

Output is deterministic: no clock, fixed attribute order, fixed indentation.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ERN_NAMESPACE = "http://ddex.net/xml/ern/43"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{ERN_NAMESPACE} {ERN_NAMESPACE}/release-notification.xsd"
WORLDWIDE = "Worldwide"
PROPRIETARY_NAMESPACE = "CongoWave"
RELEASE_TYPES = {"single": "Single", "ep": "EP", "album": "Album"}

# (commercial model, use types) per territory, as in the DDEX sample's deals.
DEAL_MODELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AdvertisementSupportedModel", ("NonInteractiveStream", "OnDemandStream")),
    ("SubscriptionModel", ("ConditionalDownload", "NonInteractiveStream", "OnDemandStream")),
    ("PayAsYouGoModel", ("PermanentDownload",)),
)

ET.register_namespace("ern", ERN_NAMESPACE)
ET.register_namespace("xsi", XSI_NAMESPACE)


@dataclass(frozen=True)
class Party:
    """A party of the message; ``reference`` is the message-local ``P...`` anchor."""

    reference: str
    name: str
    proprietary_id: str | None = None
    dpid: str | None = None


@dataclass(frozen=True)
class RightShare:
    """One payee's share of a right, as the exact decimal string ("56.00")."""

    party: Party
    share: str


@dataclass(frozen=True)
class ErnTrack:
    """One SoundRecording with its delivered file and per-track deal terms."""

    isrc: str
    title: str
    duration_s: float
    explicit: bool
    language: str
    genre: str
    territories: tuple[str, ...]  # ("WW",) or ISO 3166-1 alpha-2 codes
    uri: str
    md5: str
    pline_year: int
    pline_text: str
    recording_shares: tuple[RightShare, ...] = ()
    publishing_shares: tuple[RightShare, ...] = ()
    codec: str = "FLAC"
    channels: int = 2
    sample_rate_hz: int = 44100
    bits_per_sample: int = 16


@dataclass(frozen=True)
class ErnRelease:
    """Everything one NewReleaseMessage says about one release."""

    message_id: str
    created_at: dt.datetime
    sender: Party
    recipient: Party
    upc: str
    title: str
    release_type: str  # catalog kind: single | ep | album
    artist: Party
    label: Party | None
    release_date: dt.date
    genre: str
    tracks: tuple[ErnTrack, ...]


def party_reference(local_id: str) -> str:
    """A ``P...`` anchor from a catalog id; DDEX allows only letters, digits, ``-`` and ``_``."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in local_id)
    return f"P{cleaned}"


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration with millisecond precision, e.g. ``PT4M23.583S``."""
    millis = int(round(seconds * 1000))
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis // 1000}.{millis % 1000:03d}"
    return f"PT{minutes}M{secs}S" if minutes else f"PT{secs}S"


def deal_territories(territories: Sequence[str]) -> list[str]:
    """ERN territory codes for a catalog territory list: ``WW`` becomes ``Worldwide``."""
    if list(territories) == ["WW"]:
        return [WORLDWIDE]
    return sorted(territories)


def common_territories(tracks: Iterable[ErnTrack]) -> list[str]:
    """Territories where every track may be sold: the release-level deal."""
    common: set[str] | None = None
    for track in tracks:
        if list(track.territories) == ["WW"]:
            continue
        codes = set(track.territories)
        common = codes if common is None else common & codes
    return [WORLDWIDE] if common is None else sorted(common)


def build_new_release_message(release: ErnRelease) -> bytes:
    """Serialise ``release`` as UTF-8 ERN 4.3 XML bytes (same release, same bytes)."""
    root = ET.Element(
        f"{{{ERN_NAMESPACE}}}NewReleaseMessage",
        {
            f"{{{XSI_NAMESPACE}}}schemaLocation": SCHEMA_LOCATION,
            "ReleaseProfileVersionId": "Audio",
            "LanguageAndScriptCode": "en",
            "AvsVersionId": "3",
        },
    )
    _message_header(root, release)
    _party_list(root, release)
    _resource_list(root, release)
    _release_list(root, release)
    _deal_list(root, release)
    ET.indent(root, space="   ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append a child element (attributes in the given order) and return it."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def _party_name(parent: ET.Element, name: str) -> None:
    _sub(_sub(parent, "PartyName"), "FullName", name)


def _message_header(root: ET.Element, release: ErnRelease) -> None:
    header = _sub(root, "MessageHeader")
    _sub(header, "MessageThreadId", release.message_id)
    _sub(header, "MessageId", release.message_id)
    for tag, party in (("MessageSender", release.sender), ("MessageRecipient", release.recipient)):
        element = _sub(header, tag)
        _sub(element, "PartyId", party.dpid or party.reference)
        _party_name(element, party.name)
    created = release.created_at.astimezone(dt.UTC).isoformat(timespec="seconds")
    _sub(header, "MessageCreatedDateTime", created)
    _sub(header, "MessageControlType", "LiveMessage")


def _parties(release: ErnRelease) -> list[Party]:
    """Every party the message references, each once, in first-use order."""
    seen: dict[str, Party] = {}
    candidates = [release.artist, *([release.label] if release.label else [])]
    for track in release.tracks:
        candidates += [s.party for s in track.recording_shares + track.publishing_shares]
    for party in candidates:
        seen.setdefault(party.reference, party)
    return list(seen.values())


def _party_list(root: ET.Element, release: ErnRelease) -> None:
    party_list = _sub(root, "PartyList")
    for party in _parties(release):
        element = _sub(party_list, "Party")
        _sub(element, "PartyReference", party.reference)
        _party_name(element, party.name)
        if party.proprietary_id:
            ids = _sub(element, "PartyId")
            _sub(ids, "ProprietaryId", party.proprietary_id, Namespace=PROPRIETARY_NAMESPACE)


def _resource_list(root: ET.Element, release: ErnRelease) -> None:
    resources = _sub(root, "ResourceList")
    for number, track in enumerate(release.tracks, start=1):
        _sound_recording(resources, track, number, release.artist)


def _sound_recording(parent: ET.Element, track: ErnTrack, number: int, artist: Party) -> None:
    rec = _sub(parent, "SoundRecording")
    _sub(rec, "ResourceReference", f"A{number}")
    _sub(rec, "Type", "MusicalWorkSoundRecording")
    edition = _sub(rec, "SoundRecordingEdition")
    _sub(_sub(edition, "ResourceId"), "ISRC", track.isrc)
    _pline(edition, track.pline_year, track.pline_text)
    _technical_details(edition, track, number)
    _sub(rec, "DisplayTitleText", track.title)
    _sub(_sub(rec, "DisplayTitle", ApplicableTerritoryCode=WORLDWIDE), "TitleText", track.title)
    _sub(rec, "DisplayArtistName", artist.name, ApplicableTerritoryCode=WORLDWIDE)
    _display_artist(rec, artist)
    contributor = _sub(rec, "Contributor")
    _sub(contributor, "ContributorPartyReference", artist.reference)
    _sub(contributor, "Role", "Artist")
    for share in track.recording_shares:
        _resource_rights_controller(rec, share)
    for share in track.publishing_shares:
        _work_rights_controller(rec, share)
    _sub(rec, "Duration", iso_duration(track.duration_s))
    _sub(rec, "ParentalWarningType", "Explicit" if track.explicit else "NotExplicit")
    _sub(rec, "LanguageOfPerformance", track.language)


def _pline(parent: ET.Element, year: int, text: str) -> None:
    pline = _sub(parent, "PLine")
    _sub(pline, "Year", str(year))
    _sub(pline, "PLineText", text)


def _technical_details(parent: ET.Element, track: ErnTrack, number: int) -> None:
    details = _sub(parent, "TechnicalDetails")
    _sub(details, "TechnicalResourceDetailsReference", f"T{number}")
    delivery = _sub(details, "DeliveryFile")
    _sub(delivery, "Type", "AudioFile")
    _sub(delivery, "AudioCodecType", track.codec)
    _sub(delivery, "NumberOfChannels", str(track.channels))
    _sub(delivery, "SamplingRate", f"{track.sample_rate_hz / 1000:g}", UnitOfMeasure="kHz")
    _sub(delivery, "BitsPerSample", str(track.bits_per_sample))
    file = _sub(delivery, "File")
    _sub(file, "URI", track.uri)
    hashsum = _sub(file, "HashSum")
    _sub(hashsum, "Algorithm", "MD5")
    _sub(hashsum, "HashSumValue", track.md5)


def _display_artist(parent: ET.Element, artist: Party) -> None:
    element = _sub(parent, "DisplayArtist", SequenceNumber="1")
    _sub(element, "ArtistPartyReference", artist.reference)
    _sub(element, "DisplayArtistRole", "MainArtist")


def _resource_rights_controller(parent: ET.Element, share: RightShare) -> None:
    """A recording (master) share: who collects what part of the sound recording's income."""
    element = _sub(parent, "ResourceRightsController")
    _sub(element, "RightsControllerPartyReference", share.party.reference)
    _sub(element, "RightsControllerRole", "RightsController")
    _sub(element, "RightSharePercentage", share.share)
    delegated = _sub(element, "DelegatedUsageRights")
    _sub(delegated, "UseType", "OnDemandStream")
    _sub(delegated, "TerritoryOfRightsDelegation", WORLDWIDE)


def _work_rights_controller(parent: ET.Element, share: RightShare) -> None:
    """A publishing share of the underlying musical work."""
    element = _sub(parent, "WorkRightsController")
    _sub(element, "RightsControllerPartyReference", share.party.reference)
    _sub(element, "RightsControllerRole", "RightsAdministrator")
    _sub(element, "RightSharePercentage", share.share)
    _sub(element, "TerritoryCode", WORLDWIDE)


def _release_list(root: ET.Element, release: ErnRelease) -> None:
    releases = _sub(root, "ReleaseList")
    _main_release(releases, release)
    for number, track in enumerate(release.tracks, start=1):
        track_release = _sub(releases, "TrackRelease")
        _sub(track_release, "ReleaseReference", f"R{number}")
        _sub(_sub(track_release, "ReleaseId"), "ISRC", track.isrc)
        _sub(track_release, "ReleaseResourceReference", f"A{number}")
        if release.label:
            _sub(track_release, "ReleaseLabelReference", release.label.reference)
        _sub(_sub(track_release, "Genre"), "GenreText", track.genre)


def _main_release(parent: ET.Element, release: ErnRelease) -> None:
    element = _sub(parent, "Release")
    _sub(element, "ReleaseReference", "R0")
    _sub(element, "ReleaseType", RELEASE_TYPES.get(release.release_type, "Album"))
    _sub(_sub(element, "ReleaseId"), "ICPN", release.upc)
    _sub(element, "DisplayTitleText", release.title)
    _sub(
        _sub(element, "DisplayTitle", ApplicableTerritoryCode=WORLDWIDE), "TitleText", release.title
    )
    _sub(element, "DisplayArtistName", release.artist.name, ApplicableTerritoryCode=WORLDWIDE)
    _display_artist(element, release.artist)
    if release.label:
        _sub(
            element,
            "ReleaseLabelReference",
            release.label.reference,
            ApplicableTerritoryCode=WORLDWIDE,
            IsDefault="true",
        )
    pline_text = f"{release.release_date.year} {(release.label or release.artist).name}"
    _pline(element, release.release_date.year, pline_text)
    _sub(element, "Duration", iso_duration(sum(t.duration_s for t in release.tracks)))
    genre = _sub(element, "Genre", ApplicableTerritoryCode=WORLDWIDE)
    _sub(genre, "GenreText", release.genre)
    _sub(element, "OriginalReleaseDate", release.release_date.isoformat())
    _sub(element, "ReleaseVisibilityReference", "V0")
    explicit = any(t.explicit for t in release.tracks)
    _sub(element, "ParentalWarningType", "Explicit" if explicit else "NotExplicit")
    group = _sub(element, "ResourceGroup")
    _sub(group, "SequenceNumber", "1")
    for number in range(1, len(release.tracks) + 1):
        item = _sub(group, "ResourceGroupContentItem")
        _sub(item, "SequenceNumber", str(number))
        _sub(item, "ReleaseResourceReference", f"A{number}")


def _deal_list(root: ET.Element, release: ErnRelease) -> None:
    deals = _sub(root, "DealList")
    start = release.release_date.isoformat()
    _release_deal(deals, "R0", common_territories(release.tracks), start)
    for number, track in enumerate(release.tracks, start=1):
        _release_deal(deals, f"R{number}", deal_territories(track.territories), start)
    visibility = _sub(deals, "ReleaseVisibility")
    _sub(visibility, "VisibilityReference", "V0")
    shown = f"{start}T00:00:00+00:00"
    for tag in (
        "ReleaseDisplayStartDateTime",
        "CoverArtPreviewStartDateTime",
        "FullTrackListingPreviewStartDateTime",
    ):
        _sub(visibility, tag, shown)


def _release_deal(parent: ET.Element, reference: str, territories: list[str], start: str) -> None:
    """One deal per territory and commercial model, like the DDEX sample."""
    release_deal = _sub(parent, "ReleaseDeal")
    _sub(release_deal, "DealReleaseReference", reference)
    for territory in territories:
        for model, use_types in DEAL_MODELS:
            terms = _sub(_sub(release_deal, "Deal"), "DealTerms")
            _sub(terms, "TerritoryCode", territory)
            _sub(_sub(terms, "ValidityPeriod"), "StartDate", start)
            _sub(terms, "CommercialModelType", model)
            for use_type in use_types:
                _sub(terms, "UseType", use_type)
