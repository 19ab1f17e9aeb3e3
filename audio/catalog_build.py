"""Turn per-track verdicts into the catalog: delivery order, duplicates, versions.

Verdicts are judged one track at a time (in parallel, in any order); the
catalog is built from all of them in delivery order so that the outcome never
depends on which run finished first:

- a track whose audio matches another catalog recording (another ISRC) is a
  duplicate or a piracy attempt, and is rejected naming the original;
- a re-delivery of an ISRC with different audio or metadata becomes the next
  version of that track (never a silent overwrite); an identical re-delivery
  adds nothing;
- the same verdicts always give the same catalog, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from audio.fingerprint import FingerprintIndex
from audio.ingest import Verdict, content_hash
from audio.reasons import Reason
from audio.delivery.model import Problem

DUPLICATE_SIMILARITY = 0.0  # FingerprintIndex.match applies its own calibrated threshold


@dataclass(frozen=True)
class CatalogVersion:
    """One accepted version of a track (an ISRC), with where it came from."""

    isrc: str
    version: int
    partition_key: str
    delivery_id: str
    content_hash: str
    verdict: Verdict


@dataclass
class CatalogBuild:
    """The outcome of building the catalog from a set of verdicts."""

    decisions: list[Verdict] = field(default_factory=list)  # final, one per partition, in delivery order
    versions: list[CatalogVersion] = field(default_factory=list)
    index: FingerprintIndex = field(default_factory=FingerprintIndex)
    duplicate_of: dict[str, str] = field(default_factory=dict)  # partition key -> original ISRC
    version_of: dict[str, int] = field(default_factory=dict)  # partition key -> catalog version

    def current(self) -> dict[str, CatalogVersion]:
        """The latest version of every ISRC."""
        latest: dict[str, CatalogVersion] = {}
        for v in self.versions:
            latest[v.isrc] = v
        return latest


def delivery_order(verdict: Verdict) -> tuple[str, str, int]:
    """Submission time first (as the sender declares it), then delivery id, then track."""
    submitted = (verdict.track or {}).get("submitted_at") or ""
    return (str(submitted), verdict.delivery_id, verdict.track_index)


def build_catalog(verdicts: list[Verdict]) -> CatalogBuild:
    """Decide duplicates and versions for `verdicts`; see the module docstring."""
    build = CatalogBuild()
    latest_hash: dict[str, tuple[int, str]] = {}
    for verdict in sorted(verdicts, key=delivery_order):
        if verdict.decision != "accepted" or verdict.isrc is None:
            build.decisions.append(verdict)
            continue
        frames = verdict.fingerprint_array()
        original = _duplicate_of(build.index, verdict.lookup_views(), verdict.isrc)
        if original is not None:
            build.duplicate_of[verdict.partition_key] = original[0]
            build.decisions.append(_reject_duplicate(verdict, *original))
            continue
        digest = content_hash(verdict)
        version, known = latest_hash.get(verdict.isrc, (0, ""))
        if digest != known:
            version += 1
            latest_hash[verdict.isrc] = (version, digest)
            build.versions.append(
                CatalogVersion(verdict.isrc, version, verdict.partition_key, verdict.delivery_id, digest, verdict)
            )
            if frames is not None and frames.size:
                build.index.add(verdict.isrc, frames)
        build.version_of[verdict.partition_key] = version
        build.decisions.append(verdict)
    return build


def _duplicate_of(
    index: FingerprintIndex, views: list[tuple[float, Any]], own_isrc: str
) -> tuple[str, float] | None:
    """The catalog recording (other than this ISRC's own versions) the audio matches, if any."""
    if not views or len(index) == 0:
        return None
    for match in index.match_views(views):
        if match.track_id != own_isrc and match.similarity > DUPLICATE_SIMILARITY:
            return match.track_id, match.similarity
    return None


def _reject_duplicate(verdict: Verdict, original: str, similarity: float) -> Verdict:
    problem = Problem(
        Reason.DUPLICATE_AUDIO,
        Reason.DUPLICATE_AUDIO.message(isrc=verdict.isrc, duplicate_of=original, similarity=f"{similarity:.3f}"),
        field="audio_file",
    )
    extra = dict(verdict.extra, duplicate_of=original, similarity=round(similarity, 4))
    return replace(verdict, decision="rejected", problems=verdict.problems + (problem,), extra=extra)
