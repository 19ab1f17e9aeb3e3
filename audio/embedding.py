"""A fixed-length content embedding of a track, for "more like this" by cosine similarity.

The recommender needs a content vector for tracks nobody has played yet (a
new upload has no listening history). This module turns one warehouse
feature row plus the catalog metadata into a unit-length ``float32`` vector,
so similarity is a dot product and a nearest-neighbour search over the whole
catalog is one matrix-vector product.

Every transform is a fixed constant written below, never fitted to the
catalog: a track's embedding depends on that track alone, so it never moves
when other tracks arrive, and a stored vector stays comparable with one
computed later under the same :data:`EMBEDDING_VERSION`. Change a constant,
width or weight and the version must change, since old and new vectors
would no longer be comparable.

Blocks, in order (``width``, ``weight``; see :func:`embedding_layout`)::

    block          width  weight  transform
    tempo             12   0.90   Gaussian bumps in log2-tempo, 50..220 BPM
    key                4   0.30   circle of fifths (cos, sin) * key_strength, major/minor
    dynamics          12   0.50   energy, danceability, onset rate, dynamic
                                  complexity, spectral centroid, flatness
    mfcc_mean         24   0.45   MFCC means 1..12 (0 dropped)
    mfcc_std          26   0.30   MFCC standard deviations 0..12
    chroma            12   0.30   chroma rotated to the tonic, sqrt of proportions
    genre             18   1.00   one-hot over audio.taxonomy.GENRES
    language          12   0.40   one-hot over LANGUAGES
    era                8   0.30   one-hot by release decade, 1950s..2020s
    region             6   0.40   artist country's African region, or "other"

How the blocks are made comparable. Each block is built to have L2 norm 1
when its inputs are all present, then multiplied by its weight, and the
whole vector is normalised. The cosine of two fully described tracks is
therefore ``sum(w_b**2 * sim_b) / sum(w_b**2)``: the squared weight is
the block's share of the similarity (genre 34 %, tempo 27.5 %, the five
other audio blocks together 24.5 %, language/era/region 14 %). Genre and tempo get the
largest shares because "same genre, same tempo" is what a listener first
expects from "more like this", and a different-genre track can only
outrank a same-genre one if it matches on nearly everything else. The audio
blocks are still large enough to order the tracks within a genre.

Scalars and the half circle. A raw scalar in a dot product rewards large
values: a track at 0.2 would be closer to one at 1.0 than to another at 0.2.
So each scalar is first mapped to ``u`` in [0, 1] with fixed constants,
then written as the point ``(cos(pi*u), sin(pi*u))`` on a half circle
(divided by sqrt of the number of scalars in its block). Every present
scalar then contributes the same norm, and the dot product of two tracks
falls steadily as ``|u1 - u2|`` grows (1 at equal values, -1 at opposite
ends). The ``u`` mappings (``squash(z) = (1 + tanh(z)) / 2``, smooth and
bounded so one odd value cannot dominate)::

    energy, danceability   u = clip(x, 0, 1) (already 0..1)
    onset_rate             z = log2(x / 3 per s) / 1.5
    dynamic_complexity     z = (x - 4 dB) / 3
    spectral_centroid_hz   z = log2(x / 2000 Hz) / 1.2
    spectral_flatness      z = (log10(x) + 1.5) / 0.75
    mfcc_mean[1]           z = (x - 100) / 60;  mfcc_mean[2..12]: z = x / 25
    mfcc_std[k]            z = log2(x / 40) for k = 0, log2(x / 12) otherwise

MFCC coefficient 0 of the means is dropped: it is overall level, which
depends on mastering and on the extractor's log scale far more than on the
music, and loudness is already in ``energy``. The MFCC constants are broad
enough to cover both Essentia's and librosa's scaling.

Tempo: 12 Gaussian bumps centred log2-evenly from 50 to 220 BPM, width one
bump spacing (about 0.19 octave), normalised. 118 and 122 BPM are nearly
the same vector; 90 and 180 BPM (an octave) share almost nothing, so an
estimator's octave error does cost similarity. Tempi outside the range
land on the edge bumps. A tempo of 0 means "none detected" (non-music).

Key: the key signature's place on the circle of fifths (a minor key takes
its relative major's place, since they share every note), as ``(cos, sin)``
scaled by ``key_strength`` (a weak key estimate says little), plus a
major/minor one-hot; both halves divided by sqrt(2). Missing
``key_strength`` counts as 1.

Chroma: ``chroma_mean`` normalised to proportions, rotated so the key's
tonic is index 0 (the profile then describes harmony, not transposition:
the same song a tone up embeds the same), and square-rooted, which gives
unit norm and makes the dot product the Bhattacharyya coefficient of the
two pitch distributions. With no key, the strongest pitch class is used as
the tonic.

Metadata: genre one-hot (an unknown or missing genre is all zeros: no
match, not an error); language one-hot over :data:`LANGUAGES`, with ISO
639-3 codes folded to 639-1 and unlisted languages as ``"other"``; era
one-hot by release decade, clamped to 1950s..2020s; region one-hot from a
fixed ISO 3166 mapping (:data:`REGION_OF_COUNTRY`), unlisted countries
being ``"other"`` (diaspora and the rest of the world).

Missing data. A missing or ``None`` value zeroes its own part (a scalar's
pair, or the whole block for tempo, key, vectors and metadata), so it
neither matches nor repels anything. A NaN or infinite value is a bug
upstream and raises ``ValueError`` naming the field; it never becomes a NaN
in the vector.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from audio.taxonomy import GENRE_IDS

__all__ = [
    "EMBEDDING_DIM",
    "EMBEDDING_VERSION",
    "ERAS",
    "LANGUAGES",
    "REGIONS",
    "REGION_OF_COUNTRY",
    "block_slices",
    "content_embedding",
    "embedding_layout",
    "embedding_matrix",
    "most_similar",
]

EMBEDDING_VERSION = "content-v1"

_LAYOUT: tuple[tuple[str, int, float], ...] = (
    ("tempo", 12, 0.90),
    ("key", 4, 0.30),
    ("dynamics", 12, 0.50),
    ("mfcc_mean", 24, 0.45),
    ("mfcc_std", 26, 0.30),
    ("chroma", 12, 0.30),
    # Grows with audio.taxonomy: a new genre changes the dimension, so bump the version.
    ("genre", len(GENRE_IDS), 1.00),
    ("language", 12, 0.40),
    ("era", 8, 0.30),
    ("region", 6, 0.40),
)
EMBEDDING_DIM = sum(width for _, width, _ in _LAYOUT)

# Tempo bumps: log2-spaced centres, one spacing wide.
_TEMPO_CENTRES_LOG2 = np.linspace(math.log2(50.0), math.log2(220.0), 12)
_TEMPO_SIGMA_LOG2 = float(_TEMPO_CENTRES_LOG2[1] - _TEMPO_CENTRES_LOG2[0])

# zxx is ISO 639's "no linguistic content" (instrumentals, ambient sound).
LANGUAGES: tuple[str, ...] = (
    "ln", "en", "fr", "sw", "zu", "yo", "ha", "pt", "ar", "wo", "zxx", "other",
)  # fmt: skip
# ISO 639-2/3 spellings of the listed languages, so "lin" and "ln" agree.
_LANGUAGE_ALIASES = {
    "lin": "ln", "eng": "en", "fra": "fr", "fre": "fr", "swa": "sw", "swh": "sw",
    "zul": "zu", "yor": "yo", "hau": "ha", "por": "pt", "ara": "ar", "wol": "wo",
}  # fmt: skip
ERAS: tuple[int, ...] = tuple(range(1950, 2030, 10))
REGIONS: tuple[str, ...] = ("central", "west", "east", "south", "north", "other")
REGION_OF_COUNTRY: dict[str, str] = {
    **dict.fromkeys(("CD", "CG", "CM", "GA", "CF", "TD", "AO"), "central"),
    **dict.fromkeys(
        ("NG", "GH", "CI", "SN", "ML", "BF", "BJ", "TG", "GN", "SL", "LR", "GM", "NE"), "west"
    ),
    **dict.fromkeys(("KE", "TZ", "UG", "RW", "BI", "ET", "SO", "SS"), "east"),
    **dict.fromkeys(("ZA", "ZW", "ZM", "MZ", "BW", "NA", "LS", "SZ", "MW", "MG"), "south"),
    **dict.fromkeys(("EG", "MA", "DZ", "TN", "LY", "SD"), "north"),
}

_NATURAL_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "\u266f": 1, "b": -1, "\u266d": -1}


def _squash(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(z))


def _unit(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def _log2_squash(reference: float, scale: float) -> Callable[[float], float]:
    return lambda x: _squash(math.log2(max(x, reference * 1e-6) / reference) / scale)


def _linear_squash(centre: float, scale: float) -> Callable[[float], float]:
    return lambda x: _squash((x - centre) / scale)


# (field, value -> u in [0, 1]) for the dynamics block; constants in the module docstring.
_DYNAMICS: tuple[tuple[str, Callable[[float], float]], ...] = (
    ("energy", _unit),
    ("danceability", _unit),
    ("onset_rate", _log2_squash(3.0, 1.5)),
    ("dynamic_complexity", _linear_squash(4.0, 3.0)),
    ("spectral_centroid_hz", _log2_squash(2000.0, 1.2)),
    ("spectral_flatness", lambda x: _squash((math.log10(max(x, 1e-9)) + 1.5) / 0.75)),
)
_MFCC_MEAN_CENTRE = np.array([100.0] + [0.0] * 11)  # coefficients 1..12
_MFCC_MEAN_SCALE = np.array([60.0] + [25.0] * 11)
_MFCC_STD_REFERENCE = np.array([40.0] + [12.0] * 12)  # coefficients 0..12
_SIMILARITY_DECIMALS = 6


def embedding_layout() -> list[tuple[str, int, float]]:
    """(block, width, weight) in vector order, so stored vectors can be taken apart."""
    return list(_LAYOUT)


def block_slices() -> dict[str, slice]:
    """Where each block sits in the vector (for inspection, debugging and tests)."""
    slices, start = {}, 0
    for name, width, _ in _LAYOUT:
        slices[name] = slice(start, start + width)
        start += width
    return slices


def content_embedding(features: Mapping[str, Any], metadata: Mapping[str, Any]) -> np.ndarray:
    """The unit-length ``float32`` embedding of one track (features row + catalog metadata)."""
    key_pc, minor = _key(features)
    blocks = {
        "tempo": _tempo_block(_number(features, "bpm")),
        "key": _key_block(key_pc, minor, _number(features, "key_strength")),
        "dynamics": _dynamics_block(features),
        "mfcc_mean": _mfcc_mean_block(_vector(features, "mfcc_mean", 13)),
        "mfcc_std": _mfcc_std_block(_vector(features, "mfcc_std", 13)),
        "chroma": _chroma_block(_vector(features, "chroma_mean", 12), key_pc),
        "genre": _one_hot(GENRE_IDS, metadata.get("genre") or None),
        "language": _one_hot(LANGUAGES, _language(metadata.get("language"))),
        "era": _one_hot(ERAS, _decade(metadata.get("release_date"))),
        "region": _one_hot(REGIONS, _region(metadata.get("artist_country"))),
    }
    vector = np.concatenate([blocks[name] * weight for name, _, weight in _LAYOUT])
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise ValueError("nothing to embed: every feature and metadata field is missing")
    return (vector / norm).astype(np.float32)


def embedding_matrix(rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> np.ndarray:
    """Embeddings of ``(features, metadata)`` pairs as an ``(n, EMBEDDING_DIM)`` float32 matrix."""
    matrix = np.zeros((len(rows), EMBEDDING_DIM), dtype=np.float32)
    for i, (features, metadata) in enumerate(rows):
        matrix[i] = content_embedding(features, metadata)
    return matrix


def most_similar(
    matrix: np.ndarray, index: int, k: int = 10, *, exclude: set[int] | None = None
) -> list[tuple[int, float]]:
    """The ``k`` rows most cosine-similar to row ``index``, best first, never the row itself.

    Rows are unit-norm embeddings, so cosine is one matrix-vector product.
    Equal similarities are ordered by row index, so a result never depends
    on how a partial sort happened to break a tie. Similarities are rounded
    to 6 decimals first: float32 BLAS gives two identical rows dot products
    a unit in the last place apart depending on where they sit in the
    matrix, and such rows must still tie.
    """
    n = _check_query(matrix, index, k)
    sims = np.round(matrix @ matrix[index], _SIMILARITY_DECIMALS)
    allowed = np.ones(n, dtype=bool)
    allowed[index] = False
    for excluded in exclude or ():
        if not 0 <= excluded < n:
            raise ValueError(f"exclude index {excluded} is outside 0..{n - 1}")
        allowed[excluded] = False
    candidates = np.flatnonzero(allowed)
    scores = sims[candidates]
    if 0 < k < len(candidates):
        # Keep the top k plus anything tied with the k-th, then order exactly.
        threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= threshold
        candidates, scores = candidates[keep], scores[keep]
    order = np.lexsort((candidates, -scores))[:k]
    return [(int(candidates[i]), float(scores[i])) for i in order]


def _check_query(matrix: np.ndarray, index: int, k: int) -> int:
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (tracks x dims), got shape {matrix.shape}")
    n = matrix.shape[0]
    if not 0 <= index < n:
        raise ValueError(f"index {index} is outside 0..{n - 1}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return n


# -- blocks -----------------------------------------------------------------


def _tempo_block(bpm: float | None) -> np.ndarray:
    if bpm is None or bpm == 0.0:
        return np.zeros(len(_TEMPO_CENTRES_LOG2))
    if bpm < 0:
        raise ValueError(f"bpm must be >= 0, got {bpm!r}")
    offsets = (math.log2(bpm) - _TEMPO_CENTRES_LOG2) / _TEMPO_SIGMA_LOG2
    bumps = np.exp(-0.5 * offsets**2)
    return bumps / np.linalg.norm(bumps)


def _key_block(pc: int | None, minor: bool | None, strength: float | None) -> np.ndarray:
    block = np.zeros(4)
    if pc is not None:
        signature = (pc + 3) % 12 if minor else pc
        angle = 2.0 * math.pi * ((signature * 7) % 12) / 12.0
        weight = 1.0 if strength is None else _unit(strength)
        block[0:2] = weight * math.cos(angle), weight * math.sin(angle)
    if minor is not None:
        block[3 if minor else 2] = 1.0
    return block / math.sqrt(2.0)


def _dynamics_block(features: Mapping[str, Any]) -> np.ndarray:
    values = [_number(features, name) for name, _ in _DYNAMICS]
    u = [None if v is None else to_u(v) for v, (_, to_u) in zip(values, _DYNAMICS, strict=True)]
    return _half_circle(u)


def _mfcc_mean_block(mfcc_mean: np.ndarray | None) -> np.ndarray:
    if mfcc_mean is None:
        return np.zeros(24)
    z = (mfcc_mean[1:] - _MFCC_MEAN_CENTRE) / _MFCC_MEAN_SCALE
    return _half_circle(list(0.5 * (1.0 + np.tanh(z))))


def _mfcc_std_block(mfcc_std: np.ndarray | None) -> np.ndarray:
    if mfcc_std is None:
        return np.zeros(26)
    if (mfcc_std < 0).any():
        raise ValueError("mfcc_std has a negative standard deviation")
    z = np.log2(np.maximum(mfcc_std, 1e-6) / _MFCC_STD_REFERENCE)
    return _half_circle(list(0.5 * (1.0 + np.tanh(z))))


def _half_circle(us: Sequence[float | None]) -> np.ndarray:
    """Each u in [0, 1] as (cos pi*u, sin pi*u) / sqrt(n); None stays (0, 0)."""
    block = np.zeros(2 * len(us))
    scale = 1.0 / math.sqrt(len(us))
    for i, u in enumerate(us):
        if u is not None:
            block[2 * i] = scale * math.cos(math.pi * u)
            block[2 * i + 1] = scale * math.sin(math.pi * u)
    return block


def _chroma_block(chroma: np.ndarray | None, key_pc: int | None) -> np.ndarray:
    if chroma is None:
        return np.zeros(12)
    if (chroma < 0).any():
        raise ValueError("chroma_mean has a negative value")
    total = float(chroma.sum())
    if total == 0.0:
        return np.zeros(12)
    tonic = int(np.argmax(chroma)) if key_pc is None else key_pc
    return np.sqrt(np.roll(chroma / total, -tonic))


def _one_hot(vocabulary: Sequence[Any], value: Any) -> np.ndarray:
    block = np.zeros(len(vocabulary))
    if value is not None and value in vocabulary:
        block[vocabulary.index(value)] = 1.0
    return block


# -- field parsing ----------------------------------------------------------


def _number(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _vector(row: Mapping[str, Any], name: str, length: int) -> np.ndarray | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {length} numbers, got {value!r}") from None
    if array.shape != (length,):
        raise ValueError(f"{name} must have {length} values, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _key(features: Mapping[str, Any]) -> tuple[int | None, bool | None]:
    """(tonic pitch class, is minor) from ``key``+``scale``, else from ``key_label``."""
    tonic, scale = features.get("key"), features.get("scale")
    if not tonic and features.get("key_label"):
        parts = str(features["key_label"]).split()
        if len(parts) != 2:
            raise ValueError(f"key_label must look like 'Eb minor', got {features['key_label']!r}")
        tonic, scale = parts
    pc = _pitch_class(str(tonic)) if tonic else None
    if not scale:
        return pc, None
    mode = str(scale).lower()
    if mode not in ("major", "minor"):
        raise ValueError(f"scale must be 'major' or 'minor', got {scale!r}")
    return pc, mode == "minor"


def _pitch_class(tonic: str) -> int:
    letter = tonic[:1].upper()
    accidentals = tonic[1:]
    if letter not in _NATURAL_PC or any(a not in _ACCIDENTALS for a in accidentals):
        raise ValueError(f"key must be a tonic like 'C', 'F#' or 'Eb', got {tonic!r}")
    return (_NATURAL_PC[letter] + sum(_ACCIDENTALS[a] for a in accidentals)) % 12


def _language(code: Any) -> str | None:
    if code is None or not str(code).strip():
        return None
    base = str(code).strip().lower().replace("_", "-").split("-")[0]
    base = _LANGUAGE_ALIASES.get(base, base)
    return base if base in LANGUAGES else "other"


def _decade(release: Any) -> int | None:
    year = _year(release)
    if year is None:
        return None
    return min(max(year // 10 * 10, ERAS[0]), ERAS[-1])


def _year(release: Any) -> int | None:
    if release is None or release == "":
        return None
    if isinstance(release, (dt.date, dt.datetime)):
        return release.year
    if isinstance(release, int) and not isinstance(release, bool):
        return release
    text = str(release).strip()
    if len(text) >= 4 and text[:4].isdigit() and (len(text) == 4 or text[4] == "-"):
        return int(text[:4])
    raise ValueError(f"release_date must be an ISO date like '2019-05-01', got {release!r}")


def _region(country: Any) -> str | None:
    if country is None or not str(country).strip():
        return None
    return REGION_OF_COUNTRY.get(str(country).strip().upper(), "other")
