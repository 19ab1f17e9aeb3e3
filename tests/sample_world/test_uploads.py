"""The upload landing zone: determinism, honest audio, metadata, ERN and planted bad deliveries.

A reduced small world (14 tracks, one of them sleep noise, one 3+-track album
delivered as ERN) keeps the suite quick while exercising every path; the bad
deliveries are the same set the full small world gets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DET
import numpy as np
import polars as pl
import pytest
from defusedxml import DTDForbidden, EntitiesForbidden

from audio.ffmpeg import decode_pcm, probe_duration_s
from audio.reasons import Reason, reason_codes
from audio.taxonomy import normalise_genre
from pipelines.sample_world.catalog import Catalog, generate_catalog
from pipelines.sample_world.scales import SCALES
from pipelines.sample_world.uploads import (
    EXPECTATIONS_FILE,
    MARKER,
    METADATA_FILE,
    TRUTH_FILE,
    UPLOADS_DIR,
    write_uploads,
)

SEED = 5
SCALE = dataclasses.replace(SCALES["small"], tracks=14, audio_tracks=14, artists=10, labels=2)
TOLERANCE_S = {"wav": 0.05, "flac": 0.05, "mp3": 0.1}
ERN_NS = {"ern": "http://ddex.net/xml/ern/43"}
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DDEX_SAMPLE = SHARED / "formats" / "ddex-ern" / "ern43-SimpleAudioSingle.xml"
REQUIRED_FIELDS = {
    "title",
    "artists",
    "album",
    "isrc",
    "upc",
    "genre",
    "language",
    "release_date",
    "explicit",
    "territories",
    "rights_splits",
    "label",
    "audio_file",
    "delivery",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(SCALE, SEED)


@pytest.fixture(scope="module")
def world(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uploads-a")
    write_uploads(SCALE, SEED, catalog, out, workers=2)
    return out


@pytest.fixture(scope="module")
def expected(world: Path) -> dict:
    return json.loads((world / EXPECTATIONS_FILE).read_text())


@pytest.fixture(scope="module")
def truth(world: Path) -> pl.DataFrame:
    return pl.read_parquet(world / TRUTH_FILE)


@pytest.fixture(scope="module")
def by_kind(expected: dict) -> dict[str, dict]:
    return {r["kind"]: r for r in expected["rejections"]}


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _folder(world: Path, delivery_id: str) -> Path:
    return world / UPLOADS_DIR / delivery_id


def _audio_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in (MARKER, METADATA_FILE) and p.suffix != ".xml"
    ]


# --------------------------------------------------------------------------- reasons


def test_reason_codes_are_stable_strings_with_messages() -> None:
    assert all(r.value == r.name for r in Reason)
    assert len(reason_codes()) == len(Reason)
    assert Reason.AUDIO_EMPTY.message(file="a.wav") == "audio file a.wav is empty (0 bytes)"
    assert "?" in Reason.AUDIO_TOO_LONG.message()  # unknown details never raise
    assert Reason("DUPLICATE_AUDIO") is Reason.DUPLICATE_AUDIO


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(
    world: Path, catalog: Catalog, tmp_path: Path
) -> None:
    again = tmp_path / "uploads-b"
    write_uploads(SCALE, SEED, catalog, again, workers=1)
    first, second = _hashes(world), _hashes(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_metadata_only_scale_writes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    summary = write_uploads(dataclasses.replace(SCALE, audio_tracks=0), SEED, catalog, tmp_path)
    assert summary.deliveries == 0
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- good deliveries


def test_every_audio_track_is_delivered_once_and_decodes_to_its_duration(
    world: Path, truth: pl.DataFrame, catalog: Catalog
) -> None:
    assert sorted(truth["track_id"]) == sorted(catalog.tracks.head(SCALE.audio_tracks)["track_id"])
    declared = dict(zip(catalog.tracks["track_id"], catalog.tracks["duration_ms"], strict=True))
    for row in truth.iter_rows(named=True):
        pcm, rate = decode_pcm(world / row["audio_path"])
        decoded_s = pcm.shape[0] / rate
        tolerance = TOLERANCE_S[row["format"]]
        assert abs(decoded_s - row["duration_s"]) <= tolerance, row["audio_path"]
        assert abs(decoded_s - declared[row["track_id"]] / 1000) <= tolerance, row["audio_path"]
        assert (rate, pcm.shape[1]) == (44100, 2)
        assert 0.01 < float(np.abs(pcm).max()) < 0.999, (
            "honest uploads are neither silent nor clipped"
        )


def test_truth_has_tempo_key_and_choruses_for_music_only(truth: pl.DataFrame) -> None:
    music = truth.filter(pl.col("is_music"))
    noise = truth.filter(~pl.col("is_music"))
    assert noise.height >= 1 and noise["bpm"].null_count() == noise.height
    assert music["bpm"].null_count() == 0 and music["key"].null_count() == 0
    for row in music.iter_rows(named=True):
        assert row["key"].endswith((" major", " minor"))
        assert row["chorus_sections"], "every music track has a chorus"
        assert all(0 <= s < e <= row["duration_s"] + 1e-6 for s, e in row["chorus_sections"])
    assert set(truth["format"]) == {"wav", "flac", "mp3"}


def test_metadata_json_declares_every_field_and_matches_the_catalog(
    world: Path, expected: dict, catalog: Catalog
) -> None:
    tracks = {t["isrc"]: t for t in catalog.tracks.iter_rows(named=True)}
    uploads = [d for d in expected["accepted"] if (_folder(world, d) / METADATA_FILE).exists()]
    assert uploads
    for delivery_id in uploads:
        folder = _folder(world, delivery_id)
        meta = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        assert REQUIRED_FIELDS <= meta.keys()
        assert (folder / meta["audio_file"]).is_file()
        assert meta["delivery"]["delivery_id"] == delivery_id
        track = tracks[meta["isrc"].replace("-", "").upper()]
        assert normalise_genre(meta["genre"]) == track["genre"]
        assert (
            meta["title"] == track["title"] and meta["upc"] == meta["album"]["upc"] == track["upc"]
        )
        for shares in meta["rights_splits"].values():
            assert sum(Decimal(s["share"]) for s in shares) == Decimal("100.00")


def test_marker_is_written_after_every_other_file(world: Path, expected: dict) -> None:
    for delivery_id in expected["accepted"] + [r["delivery_id"] for r in expected["rejections"]]:
        folder = _folder(world, delivery_id)
        marker = (folder / MARKER).stat().st_mtime_ns
        assert (folder / MARKER).stat().st_size == 0
        assert all(p.stat().st_mtime_ns <= marker for p in folder.rglob("*") if p.is_file())


def _ern_isrcs(root) -> list[str]:
    return [
        e.text
        for e in root.findall("./ResourceList/SoundRecording/SoundRecordingEdition/ResourceId/ISRC")
    ]


def test_ern_album_parses_safely_and_names_its_tracks_upc_and_hashes(
    world: Path, expected: dict, truth: pl.DataFrame
) -> None:
    [ern_id] = [d for d in expected["accepted"] if d.startswith("ern-")]
    folder = _folder(world, ern_id)
    [xml] = list(folder.glob("*.xml"))
    root = DET.parse(xml).getroot()
    assert root.tag == "{http://ddex.net/xml/ern/43}NewReleaseMessage"
    assert root.findtext("./MessageHeader/MessageId") == xml.stem
    delivered = truth.filter(pl.col("delivery_id") == ern_id)
    assert delivered.height >= 3 and set(delivered["format"]) == {"flac"}
    assert sorted(_ern_isrcs(root)) == sorted(delivered["isrc"])
    upc = root.findtext("./ReleaseList/Release/ReleaseId/ICPN")
    assert all(path.name.startswith(f"{upc}_") for path in (folder / "resources").iterdir())
    for file in root.iter("File"):
        data = (folder / file.findtext("URI")).read_bytes()
        assert hashlib.md5(data).hexdigest() == file.findtext("./HashSum/HashSumValue")
    territories = {t.text for t in root.iter("TerritoryCode")}
    assert territories and territories <= {"Worldwide", *[c for c in territories if len(c) == 2]}


def test_the_public_ddex_sample_reads_with_the_same_paths() -> None:
    assert DDEX_SAMPLE.is_file(), f"the shared DDEX sample is missing: {DDEX_SAMPLE}"
    root = DET.parse(DDEX_SAMPLE).getroot()
    assert _ern_isrcs(root) == ["GBAYC1700598"]
    assert root.findtext("./ReleaseList/Release/RelatedRelease/ReleaseId/ICPN") == "190295810726"


# --------------------------------------------------------------------------- expectations


def test_expectations_cover_every_delivery_folder_exactly_once(world: Path, expected: dict) -> None:
    rejected = [r["delivery_id"] for r in expected["rejections"]]
    listed = expected["accepted"] + expected["pending"] + rejected
    folders = sorted(p.name for p in (world / UPLOADS_DIR).iterdir())
    assert sorted(listed) == folders and len(set(listed)) == len(listed)
    assert rejected == sorted(rejected)
    assert len(rejected) >= 25
    assert len({r["kind"] for r in expected["rejections"]}) == len(rejected)
    for entry in expected["rejections"]:
        assert entry["reasons"] and set(entry["reasons"]) <= reason_codes()
        assert (_folder(world, entry["delivery_id"]) / MARKER).is_file()


def test_pending_delivery_is_complete_but_unmarked(world: Path, expected: dict) -> None:
    [pending] = expected["pending"]
    folder = _folder(world, pending)
    assert not (folder / MARKER).exists()
    meta = json.loads((folder / METADATA_FILE).read_text())
    assert (folder / meta["audio_file"]).is_file()


def test_every_required_bad_kind_is_planted(by_kind: dict) -> None:
    required = {
        "zero_byte_audio": "AUDIO_EMPTY",
        "truncated_flac": "AUDIO_TRUNCATED",
        "truncated_mp3": "AUDIO_TRUNCATED",
        "not_audio": "AUDIO_UNDECODABLE",
        "wrong_extension": "AUDIO_WRONG_EXTENSION",
        "format_not_allowed": "AUDIO_FORMAT_NOT_ALLOWED",
        "too_short": "AUDIO_TOO_SHORT",
        "too_long": "AUDIO_TOO_LONG",
        "silent": "AUDIO_SILENT",
        "clipping": "AUDIO_CLIPPING",
        "sample_rate": "AUDIO_SAMPLE_RATE",
        "too_many_channels": "AUDIO_CHANNELS",
        "missing_audio": "AUDIO_MISSING",
        "malformed_json": "META_MALFORMED_JSON",
        "missing_title": "META_MISSING_FIELD",
        "bad_isrc": "META_BAD_ISRC",
        "bad_upc": "META_BAD_UPC",
        "bad_territory": "META_BAD_TERRITORY",
        "bad_date": "META_BAD_DATE",
        "unknown_genre": "META_UNKNOWN_GENRE",
        "splits_not_100": "META_SPLITS_NOT_100",
        "title_too_long": "META_TEXT_TOO_LONG",
        "path_traversal": "UNSAFE_PATH",
        "absolute_path": "UNSAFE_PATH",
        "ern_entity_bomb": "XML_UNSAFE",
        "ern_external_entity": "XML_UNSAFE",
        "ern_malformed": "XML_MALFORMED",
        "duplicate_audio": "DUPLICATE_AUDIO",
    }
    assert {kind: by_kind[kind]["reasons"] for kind in required} == {
        k: [v] for k, v in required.items()
    }


# --------------------------------------------------------------------------- the defects are real


def _meta(world: Path, entry: dict) -> tuple[Path, dict | None]:
    folder = _folder(world, entry["delivery_id"])
    try:
        return folder, json.loads((folder / METADATA_FILE).read_text())
    except json.JSONDecodeError:
        return folder, None


def _the_audio(world: Path, entry: dict) -> Path:
    [path] = _audio_files(_folder(world, entry["delivery_id"]))
    return path


def test_broken_audio_files_are_what_they_claim(world: Path, by_kind: dict) -> None:
    assert _the_audio(world, by_kind["zero_byte_audio"]).stat().st_size == 0
    assert not _the_audio(world, by_kind["not_audio"]).read_bytes().startswith(b"RIFF")
    wrong = _the_audio(world, by_kind["wrong_extension"])
    assert wrong.suffix == ".mp3" and wrong.read_bytes().startswith(b"fLaC")
    assert _the_audio(world, by_kind["format_not_allowed"]).read_bytes()[:4] == bytes.fromhex(
        "3026b275"
    )
    folder, meta = _meta(world, by_kind["missing_audio"])
    assert meta is not None and not (folder / meta["audio_file"]).exists()


def test_truncated_files_decode_shorter_than_their_headers_declare(
    world: Path, by_kind: dict
) -> None:
    flac = _the_audio(world, by_kind["truncated_flac"])
    header = flac.read_bytes()[:64]
    (packed,) = struct.unpack(">Q", header[18:26])
    declared_frames = packed & ((1 << 36) - 1)
    decoded_s = probe_duration_s(flac)
    assert declared_frames / 44100 > decoded_s + 20 and decoded_s > 30

    mp3 = _the_audio(world, by_kind["truncated_mp3"])
    data = mp3.read_bytes()
    tag = max(data.find(b"Xing", 0, 400), data.find(b"Info", 0, 400))
    (flags, frames) = struct.unpack(">II", data[tag + 4 : tag + 12])
    assert flags & 1
    decoded_s = probe_duration_s(mp3)
    assert frames * 1152 / 44100 > decoded_s + 20 and decoded_s > 30


def test_signal_defects(world: Path, by_kind: dict) -> None:
    pcm, rate = decode_pcm(_the_audio(world, by_kind["silent"]))
    assert not pcm.any() and pcm.shape[0] / rate >= 30
    pcm, _ = decode_pcm(_the_audio(world, by_kind["clipping"]))
    assert float(np.mean(np.abs(pcm) >= 0.999)) > 0.05
    pcm, rate = decode_pcm(_the_audio(world, by_kind["sample_rate"]))
    assert rate == 4000 and pcm.shape[0] / rate > 30
    pcm, rate = decode_pcm(_the_audio(world, by_kind["too_many_channels"]))
    assert pcm.shape[1] == 8 and rate == 44100
    assert probe_duration_s(_the_audio(world, by_kind["too_short"])) == pytest.approx(
        10.0, abs=0.05
    )
    long_file = _the_audio(world, by_kind["too_long"])
    assert probe_duration_s(long_file) > 20 * 60 and long_file.stat().st_size < 2_000_000


def test_metadata_defects(world: Path, by_kind: dict) -> None:
    assert _meta(world, by_kind["malformed_json"])[1] is None
    assert "title" not in _meta(world, by_kind["missing_title"])[1]
    assert len(_meta(world, by_kind["title_too_long"])[1]["title"]) == 2000
    assert _meta(world, by_kind["bad_date"])[1]["release_date"] == "2026-13-45"
    assert normalise_genre(_meta(world, by_kind["unknown_genre"])[1]["genre"]) is None
    assert {"XX", "ZZ"} <= set(_meta(world, by_kind["bad_territory"])[1]["territories"])
    shares = _meta(world, by_kind["splits_not_100"])[1]["rights_splits"]["recording"]
    assert sum(Decimal(s["share"]) for s in shares) == Decimal("90.00")
    isrc = _meta(world, by_kind["bad_isrc"])[1]["isrc"]
    assert not isrc[5:].isdigit()
    upc = _meta(world, by_kind["bad_upc"])[1]["upc"]
    body = [int(d) for d in upc[:-1]]
    check = (10 - sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body))) % 10) % 10
    assert check != int(upc[-1])
    for kind, path in (("path_traversal", "../../etc/passwd"), ("absolute_path", "/etc/passwd")):
        assert _meta(world, by_kind[kind])[1]["audio_file"] == path


def test_unsafe_and_broken_xml_is_refused_by_a_safe_parser(world: Path, by_kind: dict) -> None:
    for kind in ("ern_entity_bomb", "ern_external_entity"):
        [xml] = _folder(world, by_kind[kind]["delivery_id"]).glob("*.xml")
        with pytest.raises((EntitiesForbidden, DTDForbidden)):
            DET.parse(xml, forbid_dtd=True)
    [xml] = _folder(world, by_kind["ern_malformed"]["delivery_id"]).glob("*.xml")
    with pytest.raises(ParseError):
        DET.parse(xml)
    [xml] = _folder(world, by_kind["ern_checksum_mismatch"]["delivery_id"]).glob("*.xml")
    folder = xml.parent
    file = DET.parse(xml).getroot().find(".//File")
    assert hashlib.md5((folder / file.findtext("URI")).read_bytes()).hexdigest() != file.findtext(
        "./HashSum/HashSumValue"
    )


def test_duplicate_is_the_original_recording_reencoded(
    world: Path, by_kind: dict, truth: pl.DataFrame
) -> None:
    entry = by_kind["duplicate_audio"]
    original = truth.filter(pl.col("track_id") == entry["duplicate_of"]).row(0, named=True)
    meta = _meta(world, entry)[1]
    assert meta["isrc"] != original["isrc"]
    dup, _ = decode_pcm(_the_audio(world, entry), channels=1)
    orig, _ = decode_pcm(world / original["audio_path"], channels=1)
    aligned = orig[2 * 44100 : 2 * 44100 + dup.shape[0], 0]
    n = min(len(aligned), dup.shape[0])
    correlation = np.corrcoef(aligned[:n], dup[:n, 0])[0, 1]
    assert correlation > 0.95
