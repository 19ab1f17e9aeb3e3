"""Deliberately bad deliveries, each planted with the reason ingestion must give.

Every bad delivery breaks exactly one rule, so whichever order ingestion runs
its checks in, the expected reason is the only one it can find: the audio of a
metadata defect is a valid, unique track; a truncated file still holds more
than the minimum duration; the too-long file is otherwise valid; and so on.
Each is a complete folder (``BatchComplete`` present) listed in
``truth/expected_rejections.json`` with its codes from :class:`audio.reasons.Reason`.

The audio rules these deliveries break are the ingestion defaults this
generator assumes: containers WAV, FLAC, AIFF, MP3, AAC/M4A or Ogg, with content
matching the extension; a common sample rate (4 kHz is below any sane minimum);
one or two channels; between 30 s and 20 min; not silent; not clipped.

One more delivery is *pending*: a good upload still missing its
``BatchComplete`` marker, which ingestion must leave alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np

from audio.ffmpeg import FFmpegError, encode_pcm, ffmpeg_binary
from audio.reasons import Reason
from audio.synth import TrackSpec
from pipelines.sample_world import ern, names
from pipelines.sample_world.catalog import (
    GENRE_TRAITS,
    REGION_LANGUAGE,
    SWING_STYLES,
    make_isrc,
    make_upc,
)
from pipelines.sample_world.parquet_io import write_text
from pipelines.sample_world.uploads import (
    METADATA_FILE,
    SAMPLE_RATE,
    UPLOADS_DIR,
    AudioJob,
    AudioResult,
    Delivery,
    Expectation,
    GoodAudio,
    Planner,
    Source,
    TrackDraft,
    dump_json,
    encode_source,
    ern_release,
    ern_tracks,
    file_result,
    per_track_delivery,
    render_source,
    slugify,
    stable_seed,
    upload_metadata,
    write_bytes,
)

# Invented tracks get ISRC designations and UPC indexes far above the catalog's.
ISRC_DESIGNATION_BASE = 90_000
UPC_INDEX_BASE = 500_000_000
LONG_TRACK_S = 20 * 60 + 30  # just over the 20 minute maximum
TRUNCATED_SOURCE_S = 75.0  # cut to ~60 %: still longer than the 30 s minimum
MAX_TEXT = 2000

Metadata = dict[str, object]


@dataclass(frozen=True)
class BadKind:
    """One kind of bad delivery: its stable name, expected codes and a sentence for people."""

    kind: str
    reasons: tuple[Reason, ...]
    description: str

    def expectation(self, duplicate_of: str | None = None) -> Expectation:
        """The manifest entry ingestion is held to for a delivery of this kind."""
        return Expectation("rejected", self.reasons, self.kind, self.description, duplicate_of)


# --------------------------------------------------------------------------- invented tracks


def invent_track(
    planner: Planner, number: int, duration_s: float | None = None
) -> tuple[TrackDraft, TrackSpec]:
    """A plausible new single by a catalog artist, with a unique ISRC, UPC and audio seed."""
    rng = np.random.default_rng([planner.seed, 45, number])
    index = planner.index
    artists = sorted(a for a, row in index.artists.items() if row["genre"] != "sleep_sounds")
    artist = index.artists[artists[int(rng.integers(len(artists)))]]
    style, (bpm_lo, bpm_hi), _, _ = GENRE_TRAITS[artist["genre"]]
    label = index.labels.get(artist["label_id"]) if artist["label_id"] else None
    registrant, country = (
        (label["isrc_registrant"], label["country"]) if label else ("CWX", artist["country"])
    )
    scale = planner.scale
    release = scale.start + dt.timedelta(days=int(rng.integers(0, scale.days)))
    title = names.title(rng)
    draft = TrackDraft(
        isrc=make_isrc(country, registrant, scale.start.year, ISRC_DESIGNATION_BASE + number),
        title=title,
        artist_id=artist["artist_id"],
        artist_name=artist["name"],
        album_title=title,
        upc=make_upc(UPC_INDEX_BASE + number),
        release_type="single",
        track_number=1,
        label_id=label["label_id"] if label else None,
        label_name=label["name"] if label else None,
        genre=artist["genre"],
        language=REGION_LANGUAGE[artist["region"]],
        release_date=release,
        explicit=False,
        territories=("WW",),
        splits=_artist_splits(planner, artist["artist_id"]),
    )
    spec = TrackSpec(
        bpm=float(rng.integers(bpm_lo, bpm_hi + 1)),
        tonic=int(rng.integers(12)),
        mode="major" if rng.random() < 0.6 else "minor",
        duration_s=duration_s or round(float(rng.uniform(35.0, 40.0)), 3),
        style=style,
        seed=stable_seed(planner.seed, "bad", number),
        swing=SWING_STYLES.get(style, 0.0),
        level_db=round(float(rng.uniform(-20.0, -12.0)), 1),
    )
    return draft, spec


def _artist_splits(planner: Planner, artist_id: str) -> dict[str, tuple[tuple[str, str, str], ...]]:
    """The splits of the artist's first catalog track: the same people get paid for a new one."""
    tracks = planner.catalog.tracks
    first = tracks.filter(tracks["artist_id"] == artist_id)["track_id"][0]
    return {right: tuple(shares) for right, shares in planner.index.splits[first].items()}


# --------------------------------------------------------------------------- worker jobs


def ffmpeg_encode(pcm: np.ndarray, sample_rate: int, path: Path, output_args: list[str]) -> None:
    """Encode float PCM with explicit ffmpeg output options (formats encode_pcm does not offer).

    Same bit-exact flags as :func:`audio.ffmpeg.encode_pcm`, and the same
    write-beside-then-rename, so the bytes are reproducible and never half-written.
    """
    frames = np.ascontiguousarray(pcm, dtype="<f4")
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    os.close(fd)
    command = [
        ffmpeg_binary(), *"-hide_banner -nostdin -loglevel error -y -f f32le".split(),
        "-ar", str(sample_rate), "-ac", str(frames.shape[1]), "-i", "pipe:0", *output_args,
        *"-map_metadata -1 -fflags +bitexact -flags:a +bitexact".split(), tmp,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, input=frames.tobytes(), capture_output=True, check=False)
        if done.returncode != 0:
            raise FFmpegError(
                f"ffmpeg failed to write {path}",
                command=command,
                stderr=done.stderr.decode("utf-8", "replace"),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_truncated(
    out: Path, *, rel_path: str, source: Source, fmt: str, keep: float
) -> AudioResult:
    """A file cut off mid-transfer: the first ``keep`` of its bytes, its header still declaring
    the full length (``frames`` in the result is only the proportional estimate)."""
    pcm = render_source(source)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, fmt, bitrate_kbps=320)  # type: ignore[arg-type]
    data = path.read_bytes()
    write_bytes(data[: int(len(data) * keep)], path)
    return file_result(out, rel_path, int(pcm.shape[0] * keep), SAMPLE_RATE)


def render_transformed(
    out: Path,
    *,
    rel_path: str,
    source: Source,
    fmt: str,
    gain_db: float = 0.0,
    trim_start_s: float = 0.0,
    clip: bool = False,
    bitrate_kbps: int = 320,
) -> AudioResult:
    """A track re-mastered on the way: gain, a trimmed start and optional hard clipping."""
    pcm = render_source(source)[int(round(trim_start_s * SAMPLE_RATE)) :]
    pcm = pcm * np.float32(10.0 ** (gain_db / 20.0))
    if clip:
        pcm = np.clip(pcm, -1.0, 1.0)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, fmt, bitrate_kbps=bitrate_kbps)  # type: ignore[arg-type]
    return file_result(out, rel_path, pcm.shape[0], SAMPLE_RATE)


def render_silence(out: Path, *, rel_path: str, duration_s: float) -> AudioResult:
    """Digital silence (an export with the master fader down) as FLAC."""
    pcm = np.zeros((int(round(duration_s * SAMPLE_RATE)), 2), dtype=np.float32)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, "flac")
    return file_result(out, rel_path, pcm.shape[0], SAMPLE_RATE)


def render_ffmpeg(
    out: Path,
    *,
    rel_path: str,
    source: Source,
    output_args: tuple[str, ...],
    out_rate: int = SAMPLE_RATE,
) -> AudioResult:
    """A track in a format (or sample rate) only raw ffmpeg options produce."""
    pcm = render_source(source)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg_encode(pcm, SAMPLE_RATE, path, list(output_args))
    return file_result(out, rel_path, int(round(pcm.shape[0] * out_rate / SAMPLE_RATE)), out_rate)


def render_surround(out: Path, *, rel_path: str, source: Source) -> AudioResult:
    """A 7.1 (8-channel) FLAC upmix: fronts, a centre, surrounds, and silent LFE/back channels."""
    stereo = render_source(source)
    left, right = stereo[:, 0], stereo[:, 1]
    silent = np.zeros_like(left)
    centre = 0.5 * (left + right)
    pcm = np.stack([left, right, centre, silent, 0.5 * left, 0.5 * right, silent, silent], axis=1)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, "flac")
    return file_result(out, rel_path, pcm.shape[0], SAMPLE_RATE)


def render_chimes(out: Path, *, rel_path: str, duration_s: float, seed: int) -> AudioResult:
    """A long ambient piece: a soft three-note chime every 8 s over silence, as mono FLAC.

    Silence between chimes keeps a 20-minute file small (FLAC stores constant
    runs almost for free) while the chimes keep it clearly not silent; mono
    halves the samples piped to the encoder.
    """
    period = _chime_period(seed)
    frames = int(round(duration_s * SAMPLE_RATE))
    pcm = np.tile(period, frames // len(period) + 1)[:frames, None]
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, "flac")
    return file_result(out, rel_path, frames, SAMPLE_RATE)


def _chime_period(seed: int, period_s: float = 8.0) -> np.ndarray:
    """One 8 s period: three decaying sine notes of a major triad, then silence."""
    rng = np.random.default_rng([seed, 46])
    root = 220.0 * 2 ** (int(rng.integers(12)) / 12)
    period = np.zeros(int(period_s * SAMPLE_RATE), dtype=np.float32)
    note_n = int(0.25 * SAMPLE_RATE)
    t = np.arange(note_n) / SAMPLE_RATE
    for i, ratio in enumerate((1.0, 1.26, 1.5)):
        note = 0.3 * np.sin(2 * np.pi * root * ratio * t) * np.exp(-t / 0.06)
        start = i * note_n
        period[start : start + note_n] += note.astype(np.float32)
    return period


# --------------------------------------------------------------------------- per-track uploads

RenderArgs = Callable[[TrackSpec], dict[str, object]]
Builder = Callable[[Planner, int, BadKind], Delivery | None]


def _upload(
    planner: Planner,
    number: int,
    bad: BadKind,
    *,
    fmt: str = "flac",
    duration_s: float | None = None,
    render: Callable[..., AudioResult] = encode_source,
    render_args: RenderArgs | None = None,
    raw_audio: bytes | None = None,
    with_audio: bool = True,
    audio_name: str | None = None,
    mutate: Callable[[Metadata], Metadata | str] | None = None,
    cost: float | None = None,
    expectation: Expectation | None = None,
) -> Delivery:
    """A portal upload of an invented track with one defect, in its audio or in its metadata.

    By default the track is rendered honestly in ``fmt``; ``render``/``render_args``
    swap in a defective renderer, ``raw_audio`` writes given bytes as the audio
    file instead, ``with_audio=False`` leaves it out, and ``mutate`` edits the
    metadata (returning text means metadata.json is written verbatim).
    """
    draft, spec = invent_track(planner, number, duration_s)
    delivery_id, submitted = planner.next_delivery("up")
    audio_file = audio_name or f"{slugify(draft.title)}.{fmt}"
    rel_path = (UPLOADS_DIR / delivery_id / audio_file).as_posix()
    jobs = []
    if with_audio and raw_audio is None:
        args = render_args(spec) if render_args else {"source": spec, "fmt": fmt}
        job_cost = spec.duration_s if cost is None else cost
        jobs.append(AudioJob(rel_path, job_cost, partial(render, rel_path=rel_path, **args)))
    metadata = upload_metadata(
        draft, audio_file=audio_file, delivery_id=delivery_id, submitted_at=submitted
    )
    document = mutate(metadata) if mutate else metadata
    text = document if isinstance(document, str) else dump_json(document)

    def write(folder: Path, _results: Mapping[str, AudioResult]) -> None:
        if with_audio and raw_audio is not None:
            write_bytes(raw_audio, folder / audio_file)
        write_text(text, folder / METADATA_FILE)

    return Delivery(delivery_id, submitted, expectation or bad.expectation(), jobs, write)


def _set(field_name: str, value: object) -> Callable[[Metadata], Metadata]:
    """A metadata edit that sets one field."""

    def mutate(metadata: Metadata) -> Metadata:
        metadata[field_name] = value
        return metadata

    return mutate


def _drop(field_name: str) -> Callable[[Metadata], Metadata]:
    """A metadata edit that removes one field."""

    def mutate(metadata: Metadata) -> Metadata:
        del metadata[field_name]
        return metadata

    return mutate


def _break_json(metadata: Metadata) -> str:
    """Hand-edited JSON: the closing brace lost and a trailing comma left behind."""
    return dump_json(metadata).rstrip().removesuffix("}").rstrip() + ",\n"


def _typo_isrc(metadata: Metadata) -> Metadata:
    """The letter O typed for a zero inside the ISRC's numeric designation."""
    isrc = str(metadata["isrc"])
    metadata["isrc"] = isrc[:8] + "O" + isrc[9:]
    return metadata


def _bad_upc(metadata: Metadata) -> Metadata:
    """A UPC with a wrong GS1 check digit, in both places the form carries it."""
    upc = str(metadata["upc"])
    wrong = upc[:-1] + str((int(upc[-1]) + 1) % 10)
    metadata["upc"] = wrong
    metadata["album"] = {**metadata["album"], "upc": wrong}  # type: ignore[dict-item]
    return metadata


def _splits_short(metadata: Metadata) -> Metadata:
    """Recording shares that add up to 90 %: ten points lost in a spreadsheet edit."""
    splits = metadata["rights_splits"]
    recording = [dict(s) for s in splits["recording"]]  # type: ignore[index]
    recording[0]["share"] = f"{Decimal(recording[0]['share']) - Decimal('10.00'):.2f}"
    metadata["rights_splits"] = {**splits, "recording": recording}  # type: ignore[dict-item]
    return metadata


def _long_title(metadata: Metadata) -> Metadata:
    """A 2000-character title (a lyric sheet pasted into the title box)."""
    metadata["title"] = ((str(metadata["title"]) + " ") * MAX_TEXT)[:MAX_TEXT]
    return metadata


NOT_AUDIO = (
    b"Lyrics - final version\n\nVerse 1\nMotema na ngai ezali kobeta\nNa butu mobimba\n\n"
    b"Chorus\nBolingo, bolingo\nYo moko\n\n(c) all rights reserved\n"
)


def zero_byte_audio(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(p, n, bad, fmt="wav", raw_audio=b"")


def not_audio(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(p, n, bad, fmt="wav", raw_audio=NOT_AUDIO)


def missing_audio(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(p, n, bad, fmt="wav", with_audio=False)


def truncated(fmt: str) -> Builder:
    """A file cut at 60 % of its bytes: long enough source that the rest still beats the minimum."""

    def build(p: Planner, n: int, bad: BadKind) -> Delivery:
        return _upload(
            p,
            n,
            bad,
            fmt=fmt,
            duration_s=TRUNCATED_SOURCE_S,
            render=render_truncated,
            render_args=lambda spec: {"source": spec, "fmt": fmt, "keep": 0.6},
        )

    return build


def wrong_extension(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(p, n, bad, fmt="mp3", render_args=lambda spec: {"source": spec, "fmt": "flac"})


def format_not_allowed(p: Planner, n: int, bad: BadKind) -> Delivery:
    args = ("-c:a", "wmav2", "-b:a", "128k", "-f", "asf")
    return _upload(
        p,
        n,
        bad,
        fmt="wma",
        render=render_ffmpeg,
        render_args=lambda spec: {"source": spec, "output_args": args},
    )


def too_short(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(p, n, bad, fmt="flac", duration_s=10.0)


def too_long(p: Planner, n: int, bad: BadKind) -> Delivery:
    seed = stable_seed(p.seed, "long", n)
    return _upload(
        p,
        n,
        bad,
        fmt="flac",
        render=render_chimes,
        cost=LONG_TRACK_S / 100,
        render_args=lambda _spec: {"duration_s": float(LONG_TRACK_S), "seed": seed},
    )


def silent(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(
        p,
        n,
        bad,
        fmt="flac",
        render=render_silence,
        render_args=lambda _spec: {"duration_s": 40.0},
        cost=1.0,
    )


def clipping(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(
        p,
        n,
        bad,
        fmt="wav",
        render=render_transformed,
        render_args=lambda spec: {"source": spec, "fmt": "wav", "gain_db": 18.0, "clip": True},
    )


def sample_rate(p: Planner, n: int, bad: BadKind) -> Delivery:
    args = ("-c:a", "pcm_s16le", "-ar", "4000", "-f", "wav")
    return _upload(
        p,
        n,
        bad,
        fmt="wav",
        render=render_ffmpeg,
        render_args=lambda spec: {"source": spec, "output_args": args, "out_rate": 4000},
    )


def too_many_channels(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _upload(
        p, n, bad, fmt="flac", render=render_surround, render_args=lambda spec: {"source": spec}
    )


def metadata_defect(mutate: Callable[[Metadata], Metadata | str]) -> Builder:
    """A valid, unique track whose metadata.json carries one defect."""

    def build(p: Planner, n: int, bad: BadKind) -> Delivery:
        return _upload(p, n, bad, fmt="flac", mutate=mutate)

    return build


def duplicate_audio(p: Planner, n: int, bad: BadKind) -> Delivery | None:
    """A catalog track already delivered, re-encoded to MP3 4.5 dB quieter with 2 s trimmed,
    re-submitted under a new ISRC and title (a re-upload of someone else's master)."""
    # only the first third of good deliveries precede the bad timeline (see Planner.rewind)
    early = p.delivered[: max(1, len(p.delivered) // 3)]
    music = [g for g in early if isinstance(g.source, TrackSpec)]
    if not music:
        return None
    original: GoodAudio = music[int(np.random.default_rng([p.seed, 49]).integers(len(music)))]
    args = {
        "source": original.source,
        "fmt": "mp3",
        "gain_db": -4.5,
        "trim_start_s": 2.0,
        "bitrate_kbps": 256,
    }
    return _upload(
        p,
        n,
        bad,
        fmt="mp3",
        render=render_transformed,
        render_args=lambda _spec: args,
        cost=original.source.duration_s,
        expectation=bad.expectation(duplicate_of=str(original.track["track_id"])),
    )


# --------------------------------------------------------------------------- ERN deliveries


def _bad_ern(
    planner: Planner,
    number: int,
    bad: BadKind,
    *,
    with_audio: bool = False,
    uri: str | None = None,
    tamper_md5: bool = False,
    edit_xml: Callable[[bytes], bytes] | None = None,
) -> Delivery:
    """A label's DDEX delivery of an invented single with one defect in the XML or its files."""
    draft, spec = invent_track(planner, number)
    delivery_id, submitted = planner.next_delivery("ern")
    resource = f"resources/{draft.upc}_01.flac"
    rel = (UPLOADS_DIR / delivery_id / resource).as_posix()
    jobs = []
    if with_audio:
        jobs.append(
            AudioJob(
                rel, spec.duration_s, partial(encode_source, rel_path=rel, source=spec, fmt="flac")
            )
        )
    message_id = f"CW{draft.upc}{submitted:%Y%m%d}"
    # what the XML declares for a file that is never delivered
    declared = AudioResult(
        rel,
        hashlib.md5(draft.isrc.encode()).hexdigest(),
        0,
        int(round(spec.duration_s * SAMPLE_RATE)),
        SAMPLE_RATE,
    )

    def write(folder: Path, results: Mapping[str, AudioResult]) -> None:
        result = results.get(rel, declared)
        if tamper_md5:
            result = AudioResult(
                rel, result.md5[::-1], result.size, result.frames, result.sample_rate
            )
        tracks = ern_tracks([draft], [uri or resource], {rel: result}, [rel])
        xml = ern.build_new_release_message(ern_release([draft], tracks, message_id, submitted))
        write_bytes(edit_xml(xml) if edit_xml else xml, folder / f"{message_id}.xml")

    return Delivery(delivery_id, submitted, bad.expectation(), jobs, write)


def _with_doctype(xml: bytes, doctype: str, entity: str) -> bytes:
    """Insert an internal DTD after the XML declaration and use ``entity`` as the first title."""
    declaration, _, body = xml.partition(b"\n")
    body = re.sub(
        rb"<DisplayTitleText>[^<]*</DisplayTitleText>",
        f"<DisplayTitleText>&{entity};</DisplayTitleText>".encode(),
        body,
        count=1,
    )
    return declaration + b"\n" + doctype.encode() + b"\n" + body


def billion_laughs(xml: bytes) -> bytes:
    """The classic entity bomb: ten levels of tenfold expansion, a billion "lol"s if expanded."""
    lines = ["<!DOCTYPE ern:NewReleaseMessage [", '  <!ENTITY lol0 "lol">']
    for level in range(1, 10):
        lines.append(f'  <!ENTITY lol{level} "' + f"&lol{level - 1};" * 10 + '">')
    lines.append("]>")
    return _with_doctype(xml, "\n".join(lines), "lol9")


def external_entity(xml: bytes) -> bytes:
    """An XXE attempt: an external entity that would read the server's /etc/passwd."""
    doctype = '<!DOCTYPE ern:NewReleaseMessage [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>'
    return _with_doctype(xml, doctype, "xxe")


def mismatched_tag(xml: bytes) -> bytes:
    """Hand-edited XML whose first title element is closed with the wrong end tag."""
    return xml.replace(b"</DisplayTitleText>", b"</DisplayTitle>", 1)


def dangling_reference(xml: bytes) -> bytes:
    """A release listing resource A2, which the ResourceList does not contain."""
    item = (
        b"   <ResourceGroupContentItem>\n"
        b"               <SequenceNumber>2</SequenceNumber>\n"
        b"               <ReleaseResourceReference>A2</ReleaseResourceReference>\n"
        b"            </ResourceGroupContentItem>\n"
        b"         </ResourceGroup>"
    )
    return xml.replace(b"</ResourceGroup>", item, 1)


def ern_bomb(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, edit_xml=billion_laughs)


def ern_xxe(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, edit_xml=external_entity)


def ern_malformed(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, edit_xml=mismatched_tag)


def ern_dangling(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, with_audio=True, edit_xml=dangling_reference)


def ern_checksum(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, with_audio=True, tamper_md5=True)


def ern_missing_resource(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, with_audio=False)


def ern_unsafe_uri(p: Planner, n: int, bad: BadKind) -> Delivery:
    return _bad_ern(p, n, bad, uri="../../../etc/passwd")


# --------------------------------------------------------------------------- the list


def _kind(kind: str, reason: Reason, description: str) -> BadKind:
    return BadKind(kind, (reason,), description)


R = Reason
# fmt: off
BAD_KINDS: tuple[tuple[BadKind, Builder], ...] = (
    (_kind("zero_byte_audio", R.AUDIO_EMPTY, "the audio file is 0 bytes"), zero_byte_audio),
    (_kind("truncated_flac", R.AUDIO_TRUNCATED,
           "FLAC cut at 60% of its bytes; STREAMINFO still declares all 75 s"), truncated("flac")),
    (_kind("truncated_mp3", R.AUDIO_TRUNCATED,
           "MP3 cut at 60% of its bytes, mid-frame; its Xing header still counts every frame"),
     truncated("mp3")),
    (_kind("not_audio", R.AUDIO_UNDECODABLE, "a text file (lyrics) named .wav"), not_audio),
    (_kind("wrong_extension", R.AUDIO_WRONG_EXTENSION, "FLAC data in a file named .mp3"),
     wrong_extension),
    (_kind("format_not_allowed", R.AUDIO_FORMAT_NOT_ALLOWED,
           "Windows Media Audio (.wma: WMAv2 in ASF), decodable but not an accepted format"),
     format_not_allowed),
    (_kind("too_short", R.AUDIO_TOO_SHORT, "a 10 s sketch, under the 30 s minimum"), too_short),
    (_kind("too_long", R.AUDIO_TOO_LONG,
           "a 20 min 30 s ambient piece (chimes over silence), over the 20 min maximum"), too_long),
    (_kind("silent", R.AUDIO_SILENT, "40 s of digital silence"), silent),
    (_kind("clipping", R.AUDIO_CLIPPING, "mastered 18 dB too hot and hard-clipped at full scale"),
     clipping),
    (_kind("sample_rate", R.AUDIO_SAMPLE_RATE, "a 4 kHz WAV (a phone-quality export)"),
     sample_rate),
    (_kind("too_many_channels", R.AUDIO_CHANNELS, "an 8-channel (7.1) FLAC surround mix"),
     too_many_channels),
    (_kind("missing_audio", R.AUDIO_MISSING, "metadata.json names an audio file the folder lacks"),
     missing_audio),
    (_kind("malformed_json", R.META_MALFORMED_JSON, "metadata.json lost its closing brace"),
     metadata_defect(_break_json)),
    (_kind("missing_title", R.META_MISSING_FIELD, "metadata.json has no title"),
     metadata_defect(_drop("title"))),
    (_kind("bad_isrc", R.META_BAD_ISRC, "the ISRC has the letter O typed for a zero"),
     metadata_defect(_typo_isrc)),
    (_kind("bad_upc", R.META_BAD_UPC, "the UPC has a wrong check digit"),
     metadata_defect(_bad_upc)),
    (_kind("bad_territory", R.META_BAD_TERRITORY, "territories include XX and ZZ"),
     metadata_defect(_set("territories", ["CD", "XX", "ZZ"]))),
    (_kind("bad_date", R.META_BAD_DATE, "release date 2026-13-45"),
     metadata_defect(_set("release_date", "2026-13-45"))),
    (_kind("unknown_genre", R.META_UNKNOWN_GENRE, "genre 'Space Polka' is not in the taxonomy"),
     metadata_defect(_set("genre", "Space Polka"))),
    (_kind("splits_not_100", R.META_SPLITS_NOT_100, "recording splits sum to 90.00%"),
     metadata_defect(_splits_short)),
    (_kind("title_too_long", R.META_TEXT_TOO_LONG, "a 2000-character title"),
     metadata_defect(_long_title)),
    (_kind("path_traversal", R.UNSAFE_PATH, "audio_file is ../../etc/passwd"),
     metadata_defect(_set("audio_file", "../../etc/passwd"))),
    (_kind("absolute_path", R.UNSAFE_PATH, "audio_file is the absolute path /etc/passwd"),
     metadata_defect(_set("audio_file", "/etc/passwd"))),
    (_kind("duplicate_audio", R.DUPLICATE_AUDIO,
           "a delivered catalog track re-encoded (MP3, -4.5 dB, first 2 s cut) "
           "under a new ISRC and title"),
     duplicate_audio),
    (_kind("ern_entity_bomb", R.XML_UNSAFE, "ERN with a billion-laughs entity bomb in its DTD"),
     ern_bomb),
    (_kind("ern_external_entity", R.XML_UNSAFE,
           "ERN with an external entity reading file:///etc/passwd"), ern_xxe),
    (_kind("ern_malformed", R.XML_MALFORMED, "ERN with a mismatched end tag"), ern_malformed),
    (_kind("ern_dangling_reference", R.ERN_INVALID,
           "ERN whose release lists resource A2, absent from its ResourceList"), ern_dangling),
    (_kind("ern_checksum_mismatch", R.AUDIO_CHECKSUM_MISMATCH,
           "ERN declaring an MD5 that does not match its FLAC resource"), ern_checksum),
    (_kind("ern_missing_resource", R.AUDIO_MISSING,
           "ERN naming a FLAC resource that was not delivered"), ern_missing_resource),
    (_kind("ern_unsafe_uri", R.UNSAFE_PATH, "ERN resource URI ../../../etc/passwd"),
     ern_unsafe_uri),
)
# fmt: on


def pending_upload(planner: Planner, number: int) -> Delivery:
    """A good upload still in flight: every file there except BatchComplete."""
    draft, spec = invent_track(planner, number)
    rng = np.random.default_rng([planner.seed, 47])
    expectation = Expectation("pending", kind="pending", description="no BatchComplete marker yet")
    delivery = per_track_delivery(planner, draft, spec, "flac", rng, expectation=expectation)
    delivery.complete = False
    return delivery


def plan_bad_deliveries(planner: Planner) -> list[Delivery]:
    """Every bad kind once plus the pending upload, in a shuffled (but fixed) submission order.

    Call after the good deliveries are planned: the duplicate re-uploads one of
    them, and must be submitted after its original.
    """
    if not planner.scale.bad_uploads:
        return []
    order = np.random.default_rng([planner.seed, 48]).permutation(len(BAD_KINDS) + 1)
    deliveries = []
    for position in order:
        number = int(position) + 1
        if position == len(BAD_KINDS):
            deliveries.append(pending_upload(planner, number))
            continue
        bad, build = BAD_KINDS[position]
        delivery = build(planner, number, bad)
        if delivery is not None:
            deliveries.append(delivery)
    return deliveries
