"""The HLS ladder: playlists parsed with `m3u8`, RFC 8216 and Apple's rules, decode-back,
alignment, measured bit rates, AES-128, reproducibility, and bad input."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import m3u8
import numpy as np
import pytest

from audio.ffmpeg import FFmpegError, decode_pcm, encode_pcm
from audio.hls import (
    Encryption,
    Ladder,
    Rendition,
    SegmentInfo,
    check_hls,
    decode_rendition,
    make_ladder,
    peak_bitrate_bps,
)
from audio.hls_crypto import decrypt_segment, encrypt_segment, iv_for_sequence, new_key
from audio.synth import TrackSpec, synthesize

DURATION_S = 40.0
KEY = bytes(range(16))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """40 s of music-like stereo audio as FLAC, like a small-world upload."""
    path = tmp_path_factory.mktemp("hls-src") / "song.flac"
    pcm = synthesize(TrackSpec(bpm=112, tonic=9, mode="minor", duration_s=DURATION_S, style="afrobeats", seed=11))
    encode_pcm(pcm, 44100, path, "flac")
    return path


@pytest.fixture(scope="module")
def clear(source, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("hls-clear") / "hls"
    return out, make_ladder(source, out, Ladder.standard(lossless=True))


@pytest.fixture(scope="module")
def encrypted(source, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("hls-enc") / "hls"
    return out, make_ladder(source, out, Ladder.standard(), encryption=Encryption(KEY, "https://api.example/v1/keys/X/1"))


def _media(folder: Path, name: str) -> m3u8.M3U8:
    return m3u8.load(str(folder / name / "index.m3u8"))


def _rfc_peak(durations: list[float], sizes: list[int], target: float) -> float:
    """RFC 8216's peak segment bit rate, by brute force over every contiguous run."""
    best = 0.0
    for i in range(len(durations)):
        for j in range(i + 1, len(durations) + 1):
            span = sum(durations[i:j])
            if 0.5 * target <= span <= 1.5 * target:
                best = max(best, sum(sizes[i:j]) * 8 / span)
    return best


# --------------------------------------------------------------------------- master playlist


def test_master_lists_every_rendition_with_codecs_and_measured_bandwidths(clear) -> None:
    folder, _ = clear
    master = m3u8.load(str(folder / "master.m3u8"))
    assert master.is_variant and master.is_independent_segments
    uris = [p.uri for p in master.playlists]
    assert uris == ["aac-64k/index.m3u8", "aac-128k/index.m3u8", "aac-256k/index.m3u8", "flac/index.m3u8"]
    for variant in master.playlists:
        info = variant.stream_info
        name = variant.uri.split("/")[0]
        assert info.codecs == ("fLaC" if name == "flac" else "mp4a.40.2")
        media = _media(folder, name)
        durations = [float(s.duration) for s in media.segments]
        sizes = [(folder / name / s.uri).stat().st_size for s in media.segments]
        peak = _rfc_peak(durations, sizes, media.target_duration)
        assert peak <= info.bandwidth <= peak + 1, (name, peak, info.bandwidth)
        average = sum(sizes) * 8 / sum(durations)
        assert abs(info.average_bandwidth - average) <= 1
        assert info.average_bandwidth <= info.bandwidth


def test_measured_bit_rates_are_within_15_percent_of_target(clear) -> None:
    _, result = clear
    for rendition in result.renditions:
        if rendition.target_kbps:
            assert abs(rendition.average_bitrate_bps / 1000 - rendition.target_kbps) <= 0.15 * rendition.target_kbps
            assert rendition.peak_bitrate_bps >= rendition.average_bitrate_bps


# --------------------------------------------------------------------------- media playlists


def test_media_playlists_follow_rfc8216_and_apple_rules(clear) -> None:
    folder, result = clear
    for rendition in result.renditions:
        text = (folder / rendition.name / "index.m3u8").read_text()
        media = m3u8.loads(text)
        assert media.playlist_type == "vod" and media.is_endlist
        assert media.is_independent_segments
        assert media.version >= 6
        assert media.target_duration == 6
        assert media.media_sequence == 0
        init = media.segments[0].init_section
        assert init is not None and (folder / rendition.name / init.uri).is_file()
        assert (folder / rendition.name / init.uri).read_bytes()[4:8] == b"ftyp"
        for segment in media.segments:
            assert math.floor(segment.duration + 0.5) <= media.target_duration
            assert (folder / rendition.name / segment.uri).read_bytes()[4:8] in (b"moof", b"styp")
        # Apple: 6 s segments; only the last may be shorter.
        assert all(abs(s.duration - 6.0) < 0.05 for s in media.segments[:-1])
        assert not re.search(r"#EXT-X-KEY", text)
    assert check_hls(folder, expect_encrypted=False) == []


def test_renditions_are_segment_aligned(clear) -> None:
    folder, result = clear
    cuts = {}
    for rendition in result.renditions:
        durations = [float(s.duration) for s in _media(folder, rendition.name).segments]
        cuts[rendition.name] = np.cumsum(durations)[:-1]
    reference = cuts["aac-128k"]
    for name, boundaries in cuts.items():
        assert len(boundaries) == len(reference), name
        assert np.allclose(boundaries[:-1], reference[:-1], atol=1e-3), name


def test_every_rendition_decodes_back_to_the_source_length_and_sound(clear, source) -> None:
    folder, result = clear
    original, _ = decode_pcm(source)
    for rendition in result.renditions:
        pcm, rate = decode_rendition(folder, rendition.name)
        assert rate == 44100 and pcm.shape[1] == 2
        assert abs(len(pcm) / rate - DURATION_S) <= 0.05, rendition.name
        assert abs(rendition.duration_s - DURATION_S) <= 0.05, rendition.name
        if rendition.codec == "flac":
            # lossless: the exact samples come back
            assert np.array_equal(pcm[: len(original)], original)
        else:
            # lossy, delayed by the encoder's priming: compare over the middle with the best lag
            mid = slice(44100 * 10, 44100 * 12)
            a = original[mid, 0]
            best = max(
                np.corrcoef(a, pcm[44100 * 10 + lag : 44100 * 12 + lag, 0])[0, 1] for lag in range(0, 2200, 1)
            )
            assert best > 0.95, (rendition.name, best)


def test_sizes_scale_with_the_ladder(clear) -> None:
    _, result = clear
    sizes = {r.name: r.size_bytes for r in result.renditions}
    assert sizes["aac-64k"] < sizes["aac-128k"] < sizes["aac-256k"] < sizes["flac"]
    # 40 s at 128 kbps is 640 kB of audio; container overhead stays small
    assert 0.9 * 640_000 <= sizes["aac-128k"] <= 1.15 * 640_000


# --------------------------------------------------------------------------- AES-128


def test_encrypted_ladder_decrypts_to_the_clear_bytes(encrypted, clear) -> None:
    enc_folder, enc = encrypted
    clear_folder, _ = clear
    assert enc.encrypted and check_hls(enc_folder, expect_encrypted=True) == []
    for rendition in enc.renditions:
        text = (enc_folder / rendition.name / "index.m3u8").read_text()
        assert '#EXT-X-KEY:METHOD=AES-128,URI="https://api.example/v1/keys/X/1"' in text
        assert text.index("#EXT-X-MAP") < text.index("#EXT-X-KEY"), "the init section must stay clear"
        assert "IV=" not in text  # players derive it from the media sequence number
        # the init section is the clear one; every segment decrypts to the clear segment
        init = _media(enc_folder, rendition.name).segments[0].init_section.uri
        assert (enc_folder / rendition.name / init).read_bytes() == (clear_folder / rendition.name / init).read_bytes()
        for sequence, segment in enumerate(_media(enc_folder, rendition.name).segments):
            secret = (enc_folder / rendition.name / segment.uri).read_bytes()
            plain = (clear_folder / rendition.name / segment.uri).read_bytes()
            assert secret != plain and len(secret) % 16 == 0
            assert decrypt_segment(secret, KEY, sequence) == plain
    # BANDWIDTH is measured on what players download: the encrypted (padded) segments
    assert check_hls(enc_folder) == []


def test_encrypted_rendition_needs_its_key(encrypted) -> None:
    folder, _ = encrypted
    with pytest.raises(ValueError, match="encrypted"):
        decode_rendition(folder, "aac-64k")
    with pytest.raises(ValueError, match="key"):
        decode_rendition(folder, "aac-64k", key=bytes(16))
    pcm, rate = decode_rendition(folder, "aac-64k", key=KEY)
    assert abs(len(pcm) / rate - DURATION_S) <= 0.05


def test_aes128_follows_rfc8216() -> None:
    key = new_key()
    assert len(key) == 16 and key != new_key()
    assert iv_for_sequence(1) == b"\x00" * 15 + b"\x01"
    data = b"x" * 100
    secret = encrypt_segment(data, key, 7)
    assert len(secret) == 112  # PKCS7 pads to the next block
    assert decrypt_segment(secret, key, 7) == data
    assert encrypt_segment(b"y" * 32, key, 0) != encrypt_segment(b"y" * 32, key, 1)  # IV per segment
    assert len(encrypt_segment(b"z" * 32, key, 0)) == 48  # a full block of padding
    with pytest.raises(ValueError, match="16 bytes"):
        encrypt_segment(data, b"short", 0)
    with pytest.raises(ValueError, match="non-negative"):
        iv_for_sequence(-1)
    with pytest.raises(ValueError, match="multiple of 16"):
        decrypt_segment(b"abc", key, 0)


def test_encryption_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(Encryption(KEY, "/k"))
    with pytest.raises(ValueError):
        Encryption(b"\x00" * 8, "/k")
    with pytest.raises(ValueError):
        Encryption(KEY, 'bad"uri')


# --------------------------------------------------------------------------- figures and checks


def test_peak_bitrate_uses_runs_of_half_to_one_and_a_half_target_durations() -> None:
    segs = [SegmentInfo("a", 6.0, 6000), SegmentInfo("b", 6.0, 12000), SegmentInfo("c", 6.0, 6000)]
    assert peak_bitrate_bps(segs, 6) == 16000  # segment b alone: 12000 B * 8 / 6 s
    # a short final segment alone (under half a target) is not a valid run
    spiky = [SegmentInfo("a", 6.0, 6000), SegmentInfo("b", 1.0, 100000)]
    assert peak_bitrate_bps(spiky, 6) == math.ceil(106000 * 8 / 7.0)
    # a track shorter than half a target: its only run is itself
    assert peak_bitrate_bps([SegmentInfo("a", 2.0, 1000)], 6) == 4000


def _copy(folder: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_check_hls_catches_broken_ladders(clear, tmp_path) -> None:
    folder, _ = clear
    broken = _copy(folder, tmp_path)
    master = (broken / "master.m3u8").read_text()
    low = re.sub(r"BANDWIDTH=(\d+),AVERAGE", lambda m: f"BANDWIDTH={int(m.group(1)) // 2},AVERAGE", master, count=1)
    (broken / "master.m3u8").write_text(low.replace("#EXT-X-INDEPENDENT-SEGMENTS\n", ""))
    media = broken / "aac-128k" / "index.m3u8"
    text = media.read_text()
    durations = re.findall(r"#EXTINF:([\d.]+),", text)
    text = text.replace(f"#EXTINF:{durations[1]},", "#EXTINF:4.000000,", 1).replace("#EXT-X-PLAYLIST-TYPE:VOD\n", "")
    media.write_text(text)
    (broken / "aac-256k" / "seg00002.m4s").unlink()
    problems = "\n".join(check_hls(broken))
    assert "below the measured peak" in problems
    assert "INDEPENDENT-SEGMENTS" in problems
    assert "not VOD" in problems
    assert "seg00002.m4s missing" in problems
    assert "cuts its segments at other times" in problems or "segments" in problems
    assert check_hls(tmp_path / "nowhere") == [f"no master.m3u8 in {tmp_path / 'nowhere'}"]


def test_key_before_map_is_flagged(encrypted, tmp_path) -> None:
    folder, _ = encrypted
    broken = _copy(folder, tmp_path)
    media = broken / "aac-64k" / "index.m3u8"
    lines = media.read_text().splitlines()
    key = next(i for i, l in enumerate(lines) if l.startswith("#EXT-X-KEY"))
    mapping = next(i for i, l in enumerate(lines) if l.startswith("#EXT-X-MAP"))
    lines[key], lines[mapping] = lines[mapping], lines[key]
    media.write_text("\n".join(lines) + "\n")
    assert any("precedes EXT-X-MAP" in p for p in check_hls(broken, expect_encrypted=True))
    assert any("expected clear" in p for p in check_hls(folder, expect_encrypted=False))


# --------------------------------------------------------------------------- reproducibility and bad input


def _tree_hash(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_same_input_gives_the_same_bytes(source, encrypted, tmp_path) -> None:
    folder, _ = encrypted
    again = tmp_path / "again"
    make_ladder(source, again, Ladder.standard(), encryption=Encryption(KEY, "https://api.example/v1/keys/X/1"))
    assert _tree_hash(again) == _tree_hash(folder)


def test_bad_input_gets_a_specific_error(source, tmp_path) -> None:
    with pytest.raises(FFmpegError, match="no such file"):
        make_ladder(tmp_path / "missing.wav", tmp_path / "o1", Ladder.standard())
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(FFmpegError, match="junk.mp3"):
        make_ladder(junk, tmp_path / "o2", Ladder.standard())
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        make_ladder(source, busy, Ladder.standard())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Rendition("aac-64k", "aac", None), "bit rate"),
        (lambda: Rendition("aac-9k", "aac", 9), "bit rate"),
        (lambda: Rendition("flac", "flac", 900), "lossless"),
        (lambda: Rendition("Bad Name", "aac", 64), "lowercase"),
        (lambda: Rendition("x", "opus", 64), "codec"),  # type: ignore[arg-type]
        (lambda: Rendition("x", "aac", 64, sample_rate=22050), "sample rate"),
        (lambda: Ladder(()), "at least one"),
        (lambda: Ladder.standard([64, 64]), "distinct"),
        (lambda: Ladder.standard(segment_s=0.5), "segment length"),
    ],
)
def test_ladder_settings_are_validated(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_ladder_fingerprint_changes_with_what_changes_the_bytes() -> None:
    assert Ladder.standard().fingerprint() == Ladder.standard().fingerprint()
    assert Ladder.standard().fingerprint() != Ladder.standard([64, 128, 320]).fingerprint()
    assert Ladder.standard().fingerprint() != Ladder.standard(lossless=True).fingerprint()
    assert Ladder.standard().fingerprint() != Ladder.standard(segment_s=4).fingerprint()
