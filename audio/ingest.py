"""Decide one delivered track: accept, or reject with reasons a person can act on.

This is the pure core of ingestion (the Dagster assets only move files and
records around it): parse the delivery's declaration, validate the track's
audio, check the declared checksum, and fingerprint what passed. Duplicate
detection against the catalog happens later, when the catalog is built in
delivery order (see :mod:`audio.catalog_build`), because two copies of one
recording may arrive in the same batch.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audio.delivery.ern import parse_ern
from audio.delivery.metadata import parse_metadata
from audio.delivery.model import ParsedDelivery, Problem
from audio.fingerprint import FingerprintError, lookup_fingerprints
from audio.reasons import Reason
from audio.validate import AudioBounds, validate_audio

METADATA_FILE = "metadata.json"
MARKER_FILE = "BatchComplete"

Decision = Literal["accepted", "rejected"]


@dataclass(frozen=True)
class Verdict:
    """What ingestion decided for one track of one delivery, with everything needed to act on it."""

    partition_key: str
    delivery_id: str
    track_index: int
    form: str
    decision: Decision
    problems: tuple[Problem, ...]
    track: dict[str, Any] | None  # TrackDelivery.to_record()
    audio: dict[str, Any] | None  # AudioFacts as a dict
    fingerprint_b64: str | None = None
    isrc: str | None = None
    # a second fingerprint started half a frame later, so copies cut at any offset still match
    fingerprint_shifted_b64: str | None = None
    fingerprint_shift_s: float = 0.0
    received_at: str | None = None  # when the delivery's completion marker landed (UTC, ISO 8601)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """Distinct reason codes, in the order found."""
        return list(dict.fromkeys(p.reason.value for p in self.problems))

    def fingerprint_array(self) -> np.ndarray | None:
        """The stored fingerprint back as uint32 frames."""
        return _frames(self.fingerprint_b64)

    def lookup_views(self) -> list[tuple[float, np.ndarray]]:
        """(start_s, frames) views for FingerprintIndex.match_views."""
        views = [(0.0, _frames(self.fingerprint_b64)), (self.fingerprint_shift_s, _frames(self.fingerprint_shifted_b64))]
        return [(start, frames) for start, frames in views if frames is not None and frames.size]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict with stable key order (verdict files are compared byte for byte)."""
        data = asdict(self)
        data["problems"] = [
            {"code": p.reason.value, "message": p.message, "field": p.field} for p in self.problems
        ]
        data["reasons"] = self.reasons
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """Rebuild a verdict written by :meth:`to_json`."""
        problems = tuple(
            Problem(Reason(p["code"]), p["message"], p.get("field")) for p in data["problems"]
        )
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "problems"}
        return cls(problems=problems, **fields)


def _frames(b64: str | None) -> np.ndarray | None:
    if not b64:
        return None
    return np.frombuffer(base64.b64decode(b64), dtype="<u4").astype(np.uint32)


def _b64(frames: np.ndarray) -> str:
    return base64.b64encode(frames.astype("<u4").tobytes()).decode("ascii")


def partition_key(delivery_id: str, track_index: int) -> str:
    """One dynamic partition per track of a delivery: `<delivery>.t<nn>`."""
    return f"{delivery_id}.t{track_index:02d}"


def split_partition_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`partition_key`; ValueError names a malformed key."""
    delivery_id, sep, index = key.rpartition(".t")
    if not sep or not delivery_id or not index.isdigit():
        raise ValueError(f"{key!r} is not a track partition key (<delivery>.t<nn>)")
    return delivery_id, int(index)


def declaration_file(names: list[str]) -> tuple[str, Literal["upload", "ern"]] | None:
    """Which file declares a delivery folder's tracks: metadata.json, else one top-level *.xml."""
    if METADATA_FILE in names:
        return METADATA_FILE, "upload"
    xml = sorted(n for n in names if n.lower().endswith(".xml") and "/" not in n)
    if xml:
        return xml[0], "ern"
    return None


def parse_declaration(names: list[str], read: Any, delivery_id: str) -> ParsedDelivery:
    """Parse a delivery's declaration; `read(name) -> bytes` reads a file of the delivery."""
    found = declaration_file(names)
    if found is None:
        problem = Problem(
            Reason.META_MISSING_FIELD,
            Reason.META_MISSING_FIELD.message(field="metadata.json or an ERN XML message"),
            field=METADATA_FILE,
        )
        return ParsedDelivery(delivery_id, "upload", problems=(problem,))
    name, form = found
    data = read(name)
    if form == "upload":
        return parse_metadata(data, delivery_id, file=name)
    return parse_ern(data, delivery_id, file=name)


def track_count(parsed: ParsedDelivery) -> int:
    """How many partitions a delivery gets: one per declared track, one if none could be read."""
    return max(1, len(parsed.tracks))


def judge_track(
    parsed: ParsedDelivery,
    track_index: int,
    folder: Path,
    *,
    bounds: AudioBounds = AudioBounds(),
    ffmpeg_path: str | None = None,
) -> Verdict:
    """Decide track `track_index` of a parsed delivery whose files are in local `folder`."""
    key = partition_key(parsed.delivery_id, track_index)
    problems: list[Problem] = list(parsed.problems)
    parsed_track = parsed.tracks[track_index] if track_index < len(parsed.tracks) else None
    track = parsed_track.track if parsed_track else None
    isrc = parsed_track.isrc if parsed_track else None
    if parsed_track is not None:
        problems.extend(parsed_track.problems)
    record = track.to_record() if track is not None else None
    if track is None:
        return _verdict(key, parsed, track_index, problems, record, None, None, isrc)

    audio_path = folder / track.audio_file
    facts, audio_problems = validate_audio(audio_path, track.audio_file, bounds, ffmpeg_path=ffmpeg_path)
    problems.extend(audio_problems)
    if facts is not None and track.audio_md5 and facts.md5.lower() != track.audio_md5.lower():
        problems.append(Problem(
            Reason.AUDIO_CHECKSUM_MISMATCH,
            Reason.AUDIO_CHECKSUM_MISMATCH.message(
                file=track.audio_file, actual=facts.md5, declared=track.audio_md5),
            field="audio_md5",
        ))  # fmt: skip
    views: list[tuple[float, np.ndarray]] = []
    if not audio_problems:
        try:
            views = lookup_fingerprints(audio_path, ffmpeg_path=ffmpeg_path)
        except FingerprintError as exc:
            problems.append(Problem(
                Reason.AUDIO_UNDECODABLE,
                Reason.AUDIO_UNDECODABLE.message(file=track.audio_file, detail=f"fingerprint failed: {exc}"),
            ))  # fmt: skip
    audio = asdict(facts) if facts is not None else None
    verdict = _verdict(key, parsed, track_index, problems, record, audio, None, track.isrc)
    if views:
        verdict = replace(verdict, fingerprint_b64=_b64(views[0][1]))
    if len(views) > 1:
        verdict = replace(verdict, fingerprint_shifted_b64=_b64(views[1][1]), fingerprint_shift_s=views[1][0])
    return verdict


def _verdict(
    key: str,
    parsed: ParsedDelivery,
    track_index: int,
    problems: list[Problem],
    record: dict[str, Any] | None,
    audio: dict[str, Any] | None,
    fp_b64: str | None,
    isrc: str | None,
) -> Verdict:
    decision: Decision = "rejected" if problems or record is None else "accepted"
    return Verdict(
        partition_key=key, delivery_id=parsed.delivery_id, track_index=track_index,
        form=parsed.form, decision=decision, problems=tuple(problems), track=record,
        audio=audio, fingerprint_b64=fp_b64, isrc=isrc,
    )  # fmt: skip


def content_hash(verdict: Verdict) -> str:
    """What makes a version: the audio's sha256 plus the declared metadata (order-stable)."""
    import json

    audio_sha = (verdict.audio or {}).get("sha256", "")
    meta = dict(verdict.track or {})
    meta.pop("delivery_id", None)
    meta.pop("submitted_at", None)
    blob = json.dumps(meta, sort_keys=True, default=str) + audio_sha
    return hashlib.sha256(blob.encode()).hexdigest()
