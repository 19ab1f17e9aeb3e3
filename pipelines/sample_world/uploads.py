"""The upload landing zone: track deliveries as artists and labels send them.

Layout under ``out`` (see :func:`write_uploads`)::

    landing/uploads/<delivery_id>/       one track: <audio file>, metadata.json, BatchComplete
    landing/uploads/<ern_delivery_id>/   one album as DDEX ERN 4.3: <MessageId>.xml,
                                         resources/<upc>_<nn>.flac, BatchComplete
    truth/tracks_truth.parquet           what each delivered catalog track really is
    truth/expected_rejections.json       what ingestion must accept, reject (and why) or leave alone

``BatchComplete`` is written last, after every other file of its delivery, so
ingestion can treat a folder without it as still uploading. Audio is
synthesised from each track's hidden truth (tempo, key, style) so feature
extraction can be scored against ``tracks_truth.parquet``.

Same scale and seed give the same bytes for every file, whatever the number of
workers: every random choice comes from a generator seeded by (seed, purpose),
times are derived from the world's dates, and audio encoding is bit-exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import re
import shutil
import unicodedata
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from audio.ffmpeg import encode_pcm
from audio.reasons import Reason
from audio.synth import TrackSpec, key_label, song_structure, synthesize, synthesize_noise
from audio.taxonomy import genre as genre_info
from audio.taxonomy import normalise_genre
from pipelines.sample_world import ern
from pipelines.sample_world.catalog import Catalog
from pipelines.sample_world.parquet_io import write_bytes, write_parquet, write_text
from pipelines.sample_world.scales import Scale

UPLOADS_DIR = Path("landing") / "uploads"
TRUTH_FILE = Path("truth") / "tracks_truth.parquet"
EXPECTATIONS_FILE = Path("truth") / "expected_rejections.json"
MARKER = "BatchComplete"
METADATA_FILE = "metadata.json"
SAMPLE_RATE = 44100
MP3_KBPS = 320
# share of per-track uploads in each format, as labels and artists really send them
FORMAT_SHARES: tuple[tuple[str, float], ...] = (("flac", 0.4), ("mp3", 0.3), ("wav", 0.3))
DELIVERY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
# CongoWave's own DDEX party id, the recipient of every ERN message
RECIPIENT = ern.Party("PCongoWave", "CongoWave", dpid="PADPIDA2026090101C")

Progress = Callable[[str], None]
AudioFormat = Literal["wav", "flac", "mp3"]


# --------------------------------------------------------------------------- small types


@dataclass(frozen=True)
class NoiseSpec:
    """A non-music "sleep sounds" track: rendered with ``synthesize_noise``."""

    duration_s: float
    seed: int
    kind: str = "rain"


Source = TrackSpec | NoiseSpec


@dataclass(frozen=True)
class AudioResult:
    """What a worker wrote: enough for ERN hashes, truth durations and summaries."""

    rel_path: str
    md5: str
    size: int
    frames: int
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class AudioJob:
    """One audio file to produce; ``render(out)`` runs in a worker process.

    ``render`` is a ``functools.partial`` of a module-level function so it can be
    pickled; ``cost`` (rough seconds of audio work) only orders the queue so the
    longest jobs start first.
    """

    rel_path: str
    cost: float
    render: Callable[[Path], AudioResult]


@dataclass(frozen=True)
class Expectation:
    """What ingestion must do with a delivery, as written to expected_rejections.json."""

    status: Literal["accepted", "rejected", "pending"]
    reasons: tuple[Reason, ...] = ()
    kind: str = ""
    description: str = ""
    duplicate_of: str | None = None


@dataclass(frozen=True)
class TrackDraft:
    """Everything an upload declares about one track (a catalog track or an invented one)."""

    isrc: str
    title: str
    artist_id: str
    artist_name: str
    album_title: str
    upc: str
    release_type: str
    track_number: int
    label_id: str | None
    label_name: str | None
    genre: str
    language: str
    release_date: dt.date
    explicit: bool
    territories: tuple[str, ...]
    splits: Mapping[str, tuple[tuple[str, str, str], ...]]  # right -> (payee_id, name, share)


@dataclass(frozen=True)
class GoodAudio:
    """A catalog track's delivered audio: the row for tracks_truth.parquet once rendered."""

    track: Mapping[str, object]
    source: Source
    rel_path: str
    fmt: str
    delivery_id: str


Writer = Callable[[Path, Mapping[str, AudioResult]], None]


@dataclass
class Delivery:
    """One delivery folder: its audio jobs, the rest of its files, and what ingestion must do."""

    delivery_id: str
    submitted_at: dt.datetime
    expectation: Expectation
    jobs: list[AudioJob] = field(default_factory=list)
    write: Writer | None = None
    complete: bool = True
    good_audio: list[GoodAudio] = field(default_factory=list)


@dataclass
class UploadsSummary:
    """Counts only (they land in world.json, so nothing here may vary between runs)."""

    deliveries: int = 0
    accepted_deliveries: int = 0
    rejected_deliveries: int = 0
    pending_deliveries: int = 0
    ern_deliveries: int = 0
    tracks_with_audio: int = 0
    audio_files: int = 0
    audio_bytes: int = 0


# --------------------------------------------------------------------------- catalog look-ups


class CatalogIndex:
    """Catalog rows by id, so deliveries can be drafted without repeated frame filters."""

    def __init__(self, catalog: Catalog) -> None:
        self.artists = {r["artist_id"]: r for r in catalog.artists.iter_rows(named=True)}
        self.albums = {r["album_id"]: r for r in catalog.albums.iter_rows(named=True)}
        self.labels = {r["label_id"]: r for r in catalog.labels.iter_rows(named=True)}
        self.payees = {r["payee_id"]: r for r in catalog.payees.iter_rows(named=True)}
        self.splits: dict[str, dict[str, list[tuple[str, str, str]]]] = {}
        for row in catalog.rights_splits.iter_rows(named=True):
            by_right = self.splits.setdefault(row["track_id"], {"recording": [], "publishing": []})
            name = self.payees[row["payee_id"]]["name"]
            by_right[row["right_type"]].append((row["payee_id"], name, row["share_pct"]))

    def draft(self, track: Mapping[str, object]) -> TrackDraft:
        """The declaration an honest upload of a catalog track makes."""
        artist = self.artists[str(track["artist_id"])]
        album = self.albums[str(track["album_id"])]
        label = self.labels.get(track["label_id"]) if track["label_id"] else None  # type: ignore[arg-type]
        splits = self.splits[str(track["track_id"])]
        return TrackDraft(
            isrc=str(track["isrc"]),
            title=str(track["title"]),
            artist_id=artist["artist_id"],
            artist_name=artist["name"],
            album_title=album["title"],
            upc=album["upc"],
            release_type=album["kind"],
            track_number=int(track["track_number"]),  # type: ignore[arg-type]
            label_id=label["label_id"] if label else None,
            label_name=label["name"] if label else None,
            genre=str(track["genre"]),
            language=str(track["language"]),
            release_date=track["release_date"],
            explicit=bool(track["explicit"]),  # type: ignore[arg-type]
            territories=tuple(track["territories"]),  # type: ignore[arg-type]
            splits={k: tuple(v) for k, v in splits.items()},
        )


class Planner:
    """Hands out delivery ids and submission times in one deterministic sequence.

    Uploads arrive over the two weeks before the world's first day, a few minutes
    apart; ids are opaque (``up-YYYYMMDD-NNNN`` / ``ern-YYYYMMDD-NNNN``) so nothing
    about a delivery's fate can be read from its name.
    """

    def __init__(self, scale: Scale, seed: int, catalog: Catalog) -> None:
        self.scale = scale
        self.seed = seed
        self.catalog = catalog
        self.index = CatalogIndex(catalog)
        self._seq = 0
        start = dt.datetime.combine(scale.start - dt.timedelta(days=14), dt.time(8, 0), dt.UTC)
        self._clock = start
        self._gaps = np.random.default_rng([seed, 41])
        self.delivered: list[GoodAudio] = []

    def next_delivery(self, prefix: str) -> tuple[str, dt.datetime]:
        """A fresh slug id and a submission time later than every earlier one."""
        self._seq += 1
        self._clock += dt.timedelta(
            minutes=int(self._gaps.integers(20, 300)), seconds=int(self._gaps.integers(0, 60))
        )
        delivery_id = f"{prefix}-{self._clock:%Y%m%d}-{self._seq:04d}"
        if not DELIVERY_ID.match(delivery_id):
            raise ValueError(f"delivery id {delivery_id!r} is not a simple slug")
        return delivery_id, self._clock

    def rewind(self, moment: dt.datetime) -> None:
        """Start a second timeline at `moment`, so bad deliveries arrive among the good ones
        (a day of nothing but rejections would be a real incident, not a normal day)."""
        self._clock = moment


# --------------------------------------------------------------------------- helpers


def dump_json(value: object) -> str:
    """JSON with sorted keys and fixed formatting: the same data always gives the same bytes."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def slugify(text: str, fallback: str = "track") -> str:
    """An ASCII file-name stem from a title (uploads keep the artist's own file names)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:60].strip("-")
    return slug or fallback


def isoformat_z(moment: dt.datetime) -> str:
    """UTC timestamp as ``2026-08-18T08:21:07Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_seed(seed: int, *parts: object) -> int:
    """A 32-bit synthesis seed from the world seed and a name (independent of ordering)."""
    return zlib.crc32(":".join(str(p) for p in (seed, *parts)).encode())


def file_result(out: Path, rel_path: str, frames: int, sample_rate: int) -> AudioResult:
    """Hash and size a written file."""
    data = (out / rel_path).read_bytes()
    return AudioResult(rel_path, hashlib.md5(data).hexdigest(), len(data), frames, sample_rate)


def render_source(source: Source, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """PCM for a track source: music from the synthesiser, or sleep noise."""
    if isinstance(source, NoiseSpec):
        return synthesize_noise(source.duration_s, source.seed, sample_rate, kind=source.kind)  # type: ignore[arg-type]
    return synthesize(source, sample_rate)


def encode_source(
    out: Path, *, rel_path: str, source: Source, fmt: AudioFormat, bitrate_kbps: int = MP3_KBPS
) -> AudioResult:
    """Worker job for an honest upload: synthesise, then encode bit-exactly."""
    pcm = render_source(source)
    path = out / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_pcm(pcm, SAMPLE_RATE, path, fmt, bitrate_kbps=bitrate_kbps)
    return file_result(out, rel_path, pcm.shape[0], SAMPLE_RATE)


def track_source(track: Mapping[str, object], seed: int) -> Source:
    """The synthesis recipe for a catalog track, from its hidden truth columns."""
    duration_s = int(track["duration_ms"]) / 1000.0  # type: ignore[call-overload]
    synth_seed = stable_seed(seed, "track", track["track_id"])
    if track["style"] == "noise":
        return NoiseSpec(duration_s, synth_seed)
    return TrackSpec(
        bpm=float(track["bpm"]),
        tonic=int(track["tonic"]),
        mode=track["mode"],  # type: ignore[arg-type]
        duration_s=duration_s,
        style=str(track["style"]),
        seed=synth_seed,
        swing=float(track["swing"]),
        level_db=float(track["level_db"]),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- metadata.json


def display_isrc(isrc: str, style: str) -> str:
    """An ISRC as people type it: plain, hyphenated, or lowercase (ingestion normalises)."""
    if style == "hyphenated":
        return f"{isrc[:2]}-{isrc[2:5]}-{isrc[5:7]}-{isrc[7:]}"
    if style == "lowercase":
        return isrc.lower()
    return isrc


def display_genre(genre_id: str, use_name: bool) -> str:
    """The genre as an upload form sends it: the display name when it maps back, else the id."""
    name = genre_info(genre_id).name
    return name if use_name and normalise_genre(name) == genre_id else genre_id


def upload_metadata(
    draft: TrackDraft,
    *,
    audio_file: str,
    delivery_id: str,
    submitted_at: dt.datetime,
    isrc_style: str = "plain",
    genre_as_name: bool = False,
) -> dict[str, object]:
    """The metadata.json of a per-track upload as a plain dict (bad uploads then break a field)."""
    return {
        "title": draft.title,
        "artists": [{"artist_id": draft.artist_id, "name": draft.artist_name, "role": "main"}],
        "album": {"title": draft.album_title, "upc": draft.upc, "release_type": draft.release_type},
        "track_number": draft.track_number,
        "isrc": display_isrc(draft.isrc, isrc_style),
        "upc": draft.upc,
        "genre": display_genre(draft.genre, genre_as_name),
        "language": draft.language,
        "release_date": draft.release_date.isoformat(),
        "explicit": draft.explicit,
        "territories": list(draft.territories),
        "rights_splits": {
            right: [{"payee_id": p, "name": n, "share": s} for p, n, s in shares]
            for right, shares in draft.splits.items()
        },
        "label": {"label_id": draft.label_id, "name": draft.label_name} if draft.label_id else None,
        "audio_file": audio_file,
        "delivery": {"delivery_id": delivery_id, "submitted_at": isoformat_z(submitted_at)},
    }


def metadata_writer(metadata: Mapping[str, object]) -> Writer:
    """A delivery writer that puts ``metadata`` into metadata.json."""

    def write(folder: Path, _results: Mapping[str, AudioResult]) -> None:
        write_text(dump_json(metadata), folder / METADATA_FILE)

    return write


# --------------------------------------------------------------------------- good deliveries


def per_track_delivery(
    planner: Planner,
    draft: TrackDraft,
    source: Source,
    fmt: AudioFormat,
    rng: np.random.Generator,
    *,
    expectation: Expectation | None = None,
    catalog_track: Mapping[str, object] | None = None,
) -> Delivery:
    """A portal upload of one track: audio in ``fmt`` plus metadata.json."""
    delivery_id, submitted = planner.next_delivery("up")
    audio_file = f"{slugify(draft.title)}.{fmt}"
    rel_path = (UPLOADS_DIR / delivery_id / audio_file).as_posix()
    job = AudioJob(rel_path, source.duration_s, _partial(encode_source, rel_path, source, fmt))
    isrc_style = str(rng.choice(["plain"] * 14 + ["hyphenated"] * 3 + ["lowercase"] * 3))
    metadata = upload_metadata(
        draft,
        audio_file=audio_file,
        delivery_id=delivery_id,
        submitted_at=submitted,
        isrc_style=isrc_style,
        genre_as_name=bool(rng.random() < 0.5),
    )
    delivery = Delivery(
        delivery_id,
        submitted,
        expectation or Expectation("accepted"),
        [job],
        metadata_writer(metadata),
    )
    if catalog_track is not None:
        good = GoodAudio(catalog_track, source, rel_path, fmt, delivery_id)
        delivery.good_audio.append(good)
        planner.delivered.append(good)
    return delivery


def _partial(
    fn: Callable[..., AudioResult], rel_path: str, source: Source, fmt: str
) -> Callable[[Path], AudioResult]:
    """A picklable ``render(out)`` for a worker."""
    return partial(fn, rel_path=rel_path, source=source, fmt=fmt)


def choose_ern_album(planner: Planner, audio_tracks: pl.DataFrame) -> str | None:
    """The album delivered as DDEX ERN: >= 3 tracks, all with audio, label-released if possible."""
    if not planner.scale.ern_delivery:
        return None
    counts = audio_tracks.group_by("album_id").len()
    full = {
        r["album_id"]
        for r in counts.iter_rows(named=True)
        if r["len"] >= 3 and r["len"] == planner.index.albums[r["album_id"]]["track_count"]
    }
    if not full:
        return None
    labelled = sorted(a for a in full if planner.index.albums[a]["label_id"] is not None)
    pool = labelled or sorted(full)
    return str(np.random.default_rng([planner.seed, 43]).choice(pool))


def ern_party(local_id: str, name: str) -> ern.Party:
    """A message party for a catalog entity (artist, label, payee)."""
    return ern.Party(ern.party_reference(local_id), name, proprietary_id=local_id)


def sender_party(draft: TrackDraft) -> ern.Party:
    """The label sending the message (or the artist, self-releasing), with a DDEX party id."""
    local = draft.label_id or draft.artist_id
    digits = zlib.crc32(local.encode()) % 10**10
    return ern.Party(
        ern.party_reference(local),
        draft.label_name or draft.artist_name,
        proprietary_id=local,
        dpid=f"PADPIDA{digits:010d}S",
    )


def ern_tracks(
    drafts: Sequence[TrackDraft],
    uris: Sequence[str],
    results: Mapping[str, AudioResult],
    rel_paths: Sequence[str],
) -> tuple[ern.ErnTrack, ...]:
    """ERN SoundRecordings for drafts whose files have been written (hashes from the results)."""
    tracks = []
    for draft, uri, rel in zip(drafts, uris, rel_paths, strict=True):
        result = results[rel]
        holder = draft.label_name or draft.artist_name
        tracks.append(
            ern.ErnTrack(
                isrc=draft.isrc,
                title=draft.title,
                duration_s=result.duration_s,
                explicit=draft.explicit,
                language=draft.language,
                genre=genre_info(draft.genre).name,
                territories=draft.territories,
                uri=uri,
                md5=result.md5,
                pline_year=draft.release_date.year,
                pline_text=f"{draft.release_date.year} {holder}",
                recording_shares=_shares(draft, "recording"),
                publishing_shares=_shares(draft, "publishing"),
            )
        )
    return tuple(tracks)


def _shares(draft: TrackDraft, right: str) -> tuple[ern.RightShare, ...]:
    return tuple(ern.RightShare(ern_party(p, n), s) for p, n, s in draft.splits.get(right, ()))


def ern_release(
    drafts: Sequence[TrackDraft],
    tracks: tuple[ern.ErnTrack, ...],
    message_id: str,
    created: dt.datetime,
) -> ern.ErnRelease:
    """The release a set of drafts of one album describes."""
    first = drafts[0]
    label = ern_party(first.label_id, first.label_name) if first.label_id else None
    return ern.ErnRelease(
        message_id=message_id,
        created_at=created,
        sender=sender_party(first),
        recipient=RECIPIENT,
        upc=first.upc,
        title=first.album_title,
        release_type=first.release_type,
        artist=ern_party(first.artist_id, first.artist_name),
        label=label,
        release_date=first.release_date,
        genre=genre_info(first.genre).name,
        tracks=tracks,
    )


def ern_delivery(planner: Planner, album_id: str, tracks: list[dict]) -> Delivery:
    """A label's DDEX delivery of a whole album: FLAC resources plus the NewReleaseMessage."""
    delivery_id, submitted = planner.next_delivery("ern")
    album = planner.index.albums[album_id]
    tracks = sorted(tracks, key=lambda t: t["track_number"])
    drafts = [planner.index.draft(t) for t in tracks]
    uris = [f"resources/{album['upc']}_{t['track_number']:02d}.flac" for t in tracks]
    rels = [(UPLOADS_DIR / delivery_id / u).as_posix() for u in uris]
    sources = [track_source(t, planner.seed) for t in tracks]
    jobs = [
        AudioJob(r, s.duration_s, _partial(encode_source, r, s, "flac"))
        for r, s in zip(rels, sources, strict=True)
    ]
    message_id = f"CW{album['upc']}{submitted:%Y%m%d}"

    def write(folder: Path, results: Mapping[str, AudioResult]) -> None:
        release = ern_release(
            drafts, ern_tracks(drafts, uris, results, rels), message_id, submitted
        )
        write_bytes(ern.build_new_release_message(release), folder / f"{message_id}.xml")

    delivery = Delivery(delivery_id, submitted, Expectation("accepted"), jobs, write)
    for track, source, rel in zip(tracks, sources, rels, strict=True):
        delivery.good_audio.append(GoodAudio(track, source, rel, "flac", delivery_id))
    return delivery


def plan_good_deliveries(planner: Planner) -> list[Delivery]:
    """Every catalog track with audio, delivered once: per-track uploads plus one ERN album."""
    audio_tracks = planner.catalog.tracks.head(planner.scale.audio_tracks)
    ern_album = choose_ern_album(planner, audio_tracks)
    singles = [t for t in audio_tracks.iter_rows(named=True) if t["album_id"] != ern_album]
    formats = _format_mix(len(singles), np.random.default_rng([planner.seed, 42]))
    deliveries = []
    for track, fmt in zip(singles, formats, strict=True):
        rng = np.random.default_rng([planner.seed, 44, stable_seed(0, track["track_id"])])
        deliveries.append(
            per_track_delivery(
                planner,
                planner.index.draft(track),
                track_source(track, planner.seed),
                fmt,
                rng,
                catalog_track=track,
            )
        )
    if ern_album is not None:
        album_tracks = [t for t in audio_tracks.iter_rows(named=True) if t["album_id"] == ern_album]
        deliveries.append(ern_delivery(planner, ern_album, album_tracks))
    return deliveries


def _format_mix(count: int, rng: np.random.Generator) -> list[AudioFormat]:
    """Exactly the FORMAT_SHARES proportions (rounded), in a shuffled order."""
    formats: list[AudioFormat] = []
    for fmt, share in FORMAT_SHARES[:-1]:
        formats += [fmt] * int(round(count * share))  # type: ignore[list-item]
    formats += [FORMAT_SHARES[-1][0]] * (count - len(formats))  # type: ignore[list-item]
    return [formats[i] for i in rng.permutation(len(formats))][:count]


# --------------------------------------------------------------------------- running jobs


def run_jobs(
    jobs: Sequence[AudioJob], out: Path, workers: int, say: Progress
) -> dict[str, AudioResult]:
    """Render every job, longest first, on ``workers`` processes; results keyed by path.

    Each job depends only on its own arguments, so the bytes written do not
    depend on the worker count or on completion order. ``spawn`` keeps workers
    clear of the parent's thread pools (polars), which ``fork`` can deadlock on.
    """
    ordered = sorted(jobs, key=lambda j: (-j.cost, j.rel_path))
    results: dict[str, AudioResult] = {}
    step = max(1, len(ordered) // 10)
    if workers <= 1:
        for done, job in enumerate(ordered, start=1):
            results[job.rel_path] = job.render(out)
            _report(say, done, len(ordered), step)
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(job.render, out): job.rel_path for job in ordered}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            _report(say, done, len(ordered), step)
    return results


def _report(say: Progress, done: int, total: int, step: int) -> None:
    if done % step == 0 or done == total:
        say(f"[uploads] audio {done}/{total}")


# --------------------------------------------------------------------------- truth files


TRUTH_SCHEMA = {
    "track_id": pl.Utf8,
    "isrc": pl.Utf8,
    "delivery_id": pl.Utf8,
    "audio_path": pl.Utf8,
    "format": pl.Utf8,
    "bpm": pl.Float64,
    "key": pl.Utf8,
    "tonic": pl.Int32,
    "mode": pl.Utf8,
    "style": pl.Utf8,
    "duration_s": pl.Float64,
    "chorus_sections": pl.List(pl.List(pl.Float64)),
    "is_music": pl.Boolean,
}


def truth_row(good: GoodAudio, result: AudioResult) -> dict[str, object]:
    """Ground truth for one delivered catalog track (tempo/key/chorus are null for noise)."""
    track, source = good.track, good.source
    music = isinstance(source, TrackSpec)
    chorus = (
        [[s.start_s, s.end_s] for s in song_structure(source) if s.name == "chorus"]
        if music
        else []
    )
    return {
        "track_id": track["track_id"],
        "isrc": track["isrc"],
        "delivery_id": good.delivery_id,
        "audio_path": good.rel_path,
        "format": good.fmt,
        "bpm": source.bpm if music else None,  # type: ignore[union-attr]
        "key": key_label(source.tonic, source.mode) if music else None,  # type: ignore[union-attr]
        "tonic": source.tonic if music else None,  # type: ignore[union-attr]
        "mode": source.mode if music else None,  # type: ignore[union-attr]
        "style": track["style"],
        "duration_s": result.duration_s,
        "chorus_sections": chorus,
        "is_music": bool(track["is_music"]),
    }


def truth_frame(deliveries: Sequence[Delivery], results: Mapping[str, AudioResult]) -> pl.DataFrame:
    """tracks_truth.parquet: one row per delivered catalog track, in track_id order."""
    rows = [truth_row(g, results[g.rel_path]) for d in deliveries for g in d.good_audio]
    return pl.DataFrame(rows, schema=TRUTH_SCHEMA).sort("track_id")


def expectations_document(deliveries: Sequence[Delivery]) -> dict[str, object]:
    """expected_rejections.json: rejections with reasons, plus accepted and pending ids."""
    rejections = []
    for d in sorted(deliveries, key=lambda d: d.delivery_id):
        e = d.expectation
        if e.status != "rejected":
            continue
        entry: dict[str, object] = {
            "delivery_id": d.delivery_id,
            "reasons": [str(r) for r in e.reasons],
            "kind": e.kind,
            "description": e.description,
        }
        if e.duplicate_of:
            entry["duplicate_of"] = e.duplicate_of
        rejections.append(entry)
    by_status = {
        s: sorted(d.delivery_id for d in deliveries if d.expectation.status == s)
        for s in ("accepted", "pending")
    }
    return {"rejections": rejections, **by_status}


# --------------------------------------------------------------------------- entry point


def write_uploads(
    scale: Scale,
    seed: int,
    catalog: Catalog,
    out: Path,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> UploadsSummary:
    """Write the upload landing zone and its truth files for (scale, seed) into ``out``.

    The uploads folder is owned by the generator and replaced wholesale, so a
    re-run never leaves deliveries of an earlier world behind. A metadata-only
    scale (``audio_tracks == 0``) writes nothing.
    """
    say = progress or (lambda _msg: None)
    if scale.audio_tracks <= 0:
        return UploadsSummary()
    from pipelines.sample_world.bad_uploads import plan_bad_deliveries  # builds on this module

    shutil.rmtree(out / UPLOADS_DIR, ignore_errors=True)
    planner = Planner(scale, seed, catalog)
    deliveries = plan_good_deliveries(planner)
    if deliveries:
        planner.rewind(sorted(d.submitted_at for d in deliveries)[len(deliveries) // 3])
    deliveries += plan_bad_deliveries(planner)
    jobs = [job for d in deliveries for job in d.jobs]
    say(f"[uploads] {len(deliveries)} deliveries, {len(jobs)} audio files on {workers} worker(s)")
    results = run_jobs(jobs, out, workers, say)
    for delivery in deliveries:
        _finish(delivery, out, results)
    write_parquet(truth_frame(deliveries, results), out / TRUTH_FILE)
    write_text(dump_json(expectations_document(deliveries)), out / EXPECTATIONS_FILE)
    return _summary(deliveries, results)


def _finish(delivery: Delivery, out: Path, results: Mapping[str, AudioResult]) -> None:
    """Write a delivery's non-audio files, then its BatchComplete marker, last."""
    folder = out / UPLOADS_DIR / delivery.delivery_id
    folder.mkdir(parents=True, exist_ok=True)
    if delivery.write is not None:
        delivery.write(folder, results)
    if delivery.complete:
        write_bytes(b"", folder / MARKER)


def _summary(deliveries: Sequence[Delivery], results: Mapping[str, AudioResult]) -> UploadsSummary:
    statuses = [d.expectation.status for d in deliveries]
    return UploadsSummary(
        deliveries=len(deliveries),
        accepted_deliveries=statuses.count("accepted"),
        rejected_deliveries=statuses.count("rejected"),
        pending_deliveries=statuses.count("pending"),
        ern_deliveries=sum(d.delivery_id.startswith("ern-") for d in deliveries),
        tracks_with_audio=sum(len(d.good_audio) for d in deliveries),
        audio_files=len(results),
        audio_bytes=sum(r.size for r in results.values()),
    )
