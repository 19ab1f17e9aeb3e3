"""audio.embedding: layout, transforms, missing data, and "same genre and tempo rank first"."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from audio.embedding import (
    EMBEDDING_DIM,
    EMBEDDING_VERSION,
    LANGUAGES,
    REGIONS,
    block_slices,
    content_embedding,
    embedding_layout,
    embedding_matrix,
    most_similar,
)
from audio.taxonomy import GENRE_IDS

SLICES = block_slices()


def _features(**overrides: Any) -> dict[str, Any]:
    """A plausible warehouse feature row (Essentia-scale values)."""
    row: dict[str, Any] = {
        "duration_s": 215.0,
        "bpm": 118.0,
        "bpm_confidence": 3.1,
        "beats_s": [0.5, 1.0, 1.5],
        "key": "Eb",
        "scale": "minor",
        "key_label": "Eb minor",
        "key_strength": 0.72,
        "key_profile": "edma",
        "bpm_librosa": 117.5,
        "key_label_librosa": "Eb minor",
        "tempo_agrees": True,
        "key_agrees": True,
        "danceability_dfa": 1.3,
        "danceability": 0.71,
        "energy": 0.64,
        "loudness_db": -9.5,
        "dynamic_complexity": 3.2,
        "onset_rate": 3.4,
        "spectral_centroid_hz": 1850.0,
        "spectral_flatness": 0.04,
        "mfcc_mean": [-620.0, 120.0, -8.0, 14.0, 3.0, -2.0, 6.0, -5.0, 1.0, 2.0, -3.0, 0.5, 1.5],
        "mfcc_std": [55.0, 20.0, 14.0, 12.0, 11.0, 10.0, 9.0, 9.0, 8.0, 8.0, 7.0, 7.0, 6.0],
        "chroma_mean": [0.2, 0.1, 0.3, 0.9, 0.2, 0.3, 0.4, 0.2, 0.5, 0.1, 0.6, 0.3],
        "chroma_std": [0.1] * 12,
        "extractor": "essentia",
        "fallback_reason": None,
        "versions": {"essentia": "2.1b6"},
    }
    row.update(overrides)
    return row


def _metadata(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "genre": "ndombolo",
        "language": "ln",
        "release_date": "2019-06-14",
        "artist_country": "CD",
    }
    row.update(overrides)
    return row


def _embed(features: dict[str, Any] | None = None, **metadata: Any) -> np.ndarray:
    return content_embedding(
        features if features is not None else _features(), _metadata(**metadata)
    )


# -- shape and layout -------------------------------------------------------


def test_embedding_is_unit_norm_float32_of_fixed_length() -> None:
    vector = _embed()
    assert vector.shape == (EMBEDDING_DIM,)
    assert vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
    assert np.isfinite(vector).all()
    assert isinstance(EMBEDDING_VERSION, str) and EMBEDDING_VERSION


def test_layout_widths_sum_to_the_dimension() -> None:
    layout = embedding_layout()
    names = [name for name, _, _ in layout]
    assert len(set(names)) == len(names)
    assert sum(width for _, width, _ in layout) == EMBEDDING_DIM
    assert all(width > 0 and weight > 0 for _, width, weight in layout)
    assert names == list(SLICES)
    assert SLICES["genre"].stop - SLICES["genre"].start == len(GENRE_IDS)
    assert SLICES["language"].stop - SLICES["language"].start == len(LANGUAGES)
    assert SLICES["region"].stop - SLICES["region"].start == len(REGIONS)
    assert SLICES[names[-1]].stop == EMBEDDING_DIM


def test_genre_and_tempo_carry_the_largest_weights() -> None:
    weights = {name: weight for name, _, weight in embedding_layout()}
    ranked = sorted(weights, key=weights.__getitem__, reverse=True)
    assert ranked[:2] == ["genre", "tempo"]


def test_blocks_of_a_fully_described_track_have_unit_norm_before_weighting() -> None:
    vector = _embed(_features(key_strength=1.0)).astype(np.float64)
    weights = np.array([w for _, _, w in embedding_layout()])
    scale = 1.0 / np.sqrt((weights**2).sum())  # the final normalisation
    for name, _, weight in embedding_layout():
        block = vector[SLICES[name]] / (weight * scale)
        assert np.linalg.norm(block) == pytest.approx(1.0, abs=1e-5), name


def test_embedding_is_deterministic_and_independent_of_other_tracks() -> None:
    first = _embed()
    assert first.tobytes() == _embed().tobytes()
    others = [(_features(bpm=60.0 + i), _metadata(genre="jazz")) for i in range(5)]
    matrix = embedding_matrix([*others, (_features(), _metadata())])
    assert matrix.shape == (6, EMBEDDING_DIM) and matrix.dtype == np.float32
    assert matrix[-1].tobytes() == first.tobytes()


def test_embedding_matrix_of_nothing_is_empty() -> None:
    assert embedding_matrix([]).shape == (0, EMBEDDING_DIM)


# -- transforms -------------------------------------------------------------


def test_nearby_tempi_are_close_and_octaves_are_not_identical() -> None:
    at = {bpm: _embed(_features(bpm=bpm)) for bpm in (90.0, 118.0, 122.0, 160.0, 180.0)}
    assert at[118.0] @ at[122.0] > 0.99
    assert at[118.0] @ at[122.0] > at[118.0] @ at[160.0] + 0.1
    tempo = SLICES["tempo"]
    octave = at[90.0][tempo] @ at[180.0][tempo] / np.linalg.norm(at[90.0][tempo]) ** 2
    assert octave < 0.05


def test_tempo_outside_the_range_lands_on_the_edge_bumps() -> None:
    slow = _embed(_features(bpm=30.0))[SLICES["tempo"]]
    fast = _embed(_features(bpm=300.0))[SLICES["tempo"]]
    assert int(np.argmax(slow)) == 0
    assert int(np.argmax(fast)) == 11


def test_chroma_block_is_invariant_to_transposition() -> None:
    chroma = np.array(_features()["chroma_mean"])
    original = _embed(_features(key="Eb", scale="minor", chroma_mean=list(chroma)))
    # The same song a major third up: every pitch class moves by 4 semitones.
    up = _embed(_features(key="G", scale="minor", chroma_mean=list(np.roll(chroma, 4))))
    np.testing.assert_allclose(original[SLICES["chroma"]], up[SLICES["chroma"]], atol=1e-7)
    # Only the rotation by the key achieves that: keep the key and it differs.
    wrong = _embed(_features(key="Eb", scale="minor", chroma_mean=list(np.roll(chroma, 4))))
    assert not np.allclose(original[SLICES["chroma"]], wrong[SLICES["chroma"]], atol=1e-3)


def test_chroma_block_is_scale_free_and_starts_at_the_tonic() -> None:
    chroma = [0.0] * 12
    chroma[3] = 1.0  # all energy on Eb, the tonic
    block = _embed(_features(chroma_mean=chroma))[SLICES["chroma"]]
    assert int(np.argmax(block)) == 0
    doubled = _embed(_features(chroma_mean=[2 * c for c in chroma]))[SLICES["chroma"]]
    np.testing.assert_allclose(block, doubled, atol=1e-7)


def test_key_block_puts_relative_keys_together_and_fifths_near() -> None:
    def key_part(key: str, scale: str) -> np.ndarray:
        return _embed(_features(key=key, scale=scale, key_strength=1.0))[SLICES["key"]][:2]

    c_major = key_part("C", "major")
    np.testing.assert_allclose(c_major, key_part("A", "minor"), atol=1e-7)
    np.testing.assert_allclose(key_part("Eb", "minor"), key_part("D#", "minor"), atol=1e-7)
    assert c_major @ key_part("G", "major") > c_major @ key_part("D", "major")
    assert c_major @ key_part("F#", "major") < 0  # opposite side of the circle


def test_key_is_read_from_key_label_when_key_is_missing() -> None:
    from_label = _embed(_features(key=None, scale=None, key_label="Eb minor"))
    np.testing.assert_array_equal(from_label, _embed())


def test_dynamics_similarity_falls_with_distance() -> None:
    base = _embed(_features(energy=0.2))
    sims = [base @ _embed(_features(energy=e)) for e in (0.2, 0.3, 0.6, 1.0)]
    assert sims == sorted(sims, reverse=True)
    assert sims[0] == pytest.approx(1.0, abs=1e-6)


def test_metadata_one_hots() -> None:
    vector = _embed(genre="soukous", language="lin", release_date="1987-03-01", artist_country="cg")
    assert vector[SLICES["genre"]].nonzero()[0].tolist() == [GENRE_IDS.index("soukous")]
    assert vector[SLICES["language"]].nonzero()[0].tolist() == [LANGUAGES.index("ln")]
    assert vector[SLICES["era"]].nonzero()[0].tolist() == [3]  # 1950s, 60s, 70s, 80s
    assert vector[SLICES["region"]].nonzero()[0].tolist() == [REGIONS.index("central")]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en-US", "en"), ("swa", "sw"), ("ZU", "zu"), ("zxx", "zxx"), ("de", "other"), ("ln", "ln")],
)
def test_language_codes_are_folded(language: str, expected: str) -> None:
    block = _embed(language=language)[SLICES["language"]]
    assert block.nonzero()[0].tolist() == [LANGUAGES.index(expected)]


@pytest.mark.parametrize(
    ("release", "decade_index"),
    [
        ("1934-01-01", 0),
        ("1955", 0),
        (dt.date(1972, 5, 1), 2),
        (dt.datetime(2001, 1, 1, 12, 0), 5),
        (2024, 7),
        ("2031-02-02", 7),
    ],
)
def test_era_is_the_clamped_decade(release: Any, decade_index: int) -> None:
    block = _embed(release_date=release)[SLICES["era"]]
    assert block.nonzero()[0].tolist() == [decade_index]


@pytest.mark.parametrize(
    ("country", "region"),
    [("CD", "central"), ("AO", "central"), ("NG", "west"), ("KE", "east"), ("ZA", "south"),
     ("MA", "north"), ("FR", "other"), ("US", "other"), ("be", "other")],
)  # fmt: skip
def test_country_maps_to_region(country: str, region: str) -> None:
    block = _embed(artist_country=country)[SLICES["region"]]
    assert block.nonzero()[0].tolist() == [REGIONS.index(region)]


# -- missing and invalid data -----------------------------------------------


def test_unknown_or_missing_genre_zeroes_the_genre_block() -> None:
    for genre in ("polka", None, ""):
        vector = _embed(genre=genre)
        assert not vector[SLICES["genre"]].any()
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_none_values_zero_their_blocks_without_nan() -> None:
    nones = dict.fromkeys(
        ("bpm", "key", "scale", "key_label", "key_strength", "energy", "danceability",
         "onset_rate", "dynamic_complexity", "spectral_centroid_hz", "spectral_flatness",
         "mfcc_mean", "mfcc_std", "chroma_mean"),
    )  # fmt: skip
    vector = _embed(_features(**nones))
    assert np.isfinite(vector).all()
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
    for block in ("tempo", "key", "dynamics", "mfcc_mean", "mfcc_std", "chroma"):
        assert not vector[SLICES[block]].any(), block
    assert vector[SLICES["genre"]].any()


def test_absent_keys_count_as_missing() -> None:
    vector = content_embedding({"bpm": 120.0}, {})
    assert np.isfinite(vector).all() and vector[SLICES["tempo"]].any()
    assert not vector[SLICES["genre"]].any()


def test_one_missing_scalar_zeroes_only_its_own_pair() -> None:
    block = _embed(_features(onset_rate=None))[SLICES["dynamics"]]
    assert not block[4:6].any()
    assert block[:4].any() and block[6:].any()


def test_zero_bpm_means_no_tempo() -> None:
    assert not _embed(_features(bpm=0.0))[SLICES["tempo"]].any()


def test_nothing_to_embed_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to embed"):
        content_embedding({}, {"genre": "polka"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bpm", math.nan),
        ("energy", math.nan),
        ("danceability", float("inf")),
        ("key_strength", math.nan),
        ("spectral_flatness", np.float32("nan")),
        ("mfcc_mean", [math.nan] + [0.0] * 12),
        ("mfcc_std", [1.0] * 12 + [math.inf]),
        ("chroma_mean", [0.1] * 11 + [math.nan]),
    ],
)
def test_nan_is_rejected_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        _embed(_features(**{field: value}))


@pytest.mark.parametrize(
    ("features", "match"),
    [
        (_features(mfcc_mean=[0.0] * 12), "mfcc_mean must have 13 values"),
        (_features(chroma_mean=[0.1] * 11 + [-0.1]), "chroma_mean"),
        (_features(mfcc_std=[-1.0] + [1.0] * 12), "mfcc_std"),
        (_features(bpm=-120.0), "bpm"),
        (_features(energy="loud"), "energy must be a number"),
        (_features(scale="dorian"), "scale"),
        (_features(key="H"), "key"),
        (_features(key=None, key_label="Eb"), "key_label"),
    ],
)
def test_invalid_features_are_rejected(features: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _embed(features)


def test_bad_release_date_is_rejected() -> None:
    with pytest.raises(ValueError, match="release_date"):
        _embed(release_date="June 2019")


# -- most_similar -----------------------------------------------------------


def _random_unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, EMBEDDING_DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_most_similar_excludes_self_and_respects_k() -> None:
    matrix = _random_unit_rows(50, seed=1)
    result = most_similar(matrix, 7, k=5)
    assert len(result) == 5
    assert 7 not in [i for i, _ in result]
    sims = [s for _, s in result]
    assert sims == sorted(sims, reverse=True)
    brute = matrix @ matrix[7]
    brute[7] = -np.inf
    assert [i for i, _ in result] == list(np.argsort(-brute, kind="stable")[:5])
    assert sims[0] == pytest.approx(float(brute.max()), abs=1e-6)


def test_most_similar_respects_exclude_and_small_catalogs() -> None:
    matrix = _random_unit_rows(6, seed=2)
    best = most_similar(matrix, 0, k=1)[0][0]
    excluded = most_similar(matrix, 0, k=10, exclude={best})
    assert best not in [i for i, _ in excluded]
    assert len(excluded) == 4  # 6 rows, minus itself, minus the excluded one
    assert most_similar(matrix, 0, k=0) == []
    assert len(most_similar(matrix, 0, k=100)) == 5


def test_most_similar_breaks_ties_by_index() -> None:
    base = _random_unit_rows(1, seed=3)[0]
    other = _random_unit_rows(1, seed=4)[0]
    matrix = np.stack([base, other, base, other, base, base, other])
    assert [i for i, _ in most_similar(matrix, 0, k=3)] == [2, 4, 5]
    assert [i for i, _ in most_similar(matrix, 5, k=4)] == [0, 2, 4, 1]


@pytest.mark.parametrize(
    ("index", "k", "exclude", "match"),
    [(10, 3, None, "index 10"), (-1, 3, None, "index -1"), (0, -1, None, "k must"),
     (0, 3, {99}, "exclude index 99")],
)  # fmt: skip
def test_most_similar_rejects_bad_arguments(
    index: int, k: int, exclude: set[int] | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        most_similar(_random_unit_rows(10, seed=5), index, k, exclude=exclude)


def test_most_similar_over_fifty_thousand_tracks() -> None:
    matrix = _random_unit_rows(50_000, seed=6)
    twin = matrix[123] + 0.05 * matrix[456]
    matrix[40_000] = twin / np.linalg.norm(twin)
    result = most_similar(matrix, 123, k=10)
    assert len(result) == 10
    assert result[0][0] == 40_000
    assert 123 not in [i for i, _ in result]


# -- the platform's acceptance test: same genre and tempo rank first --------

# genre: (tempo, energy, danceability, onset rate, language, country, release year)
_GENRE_PROFILES: dict[str, tuple[float, float, float, float, str, str, int]] = {
    "rumba_congolaise": (100.0, 0.45, 0.62, 2.4, "ln", "CD", 1975),
    "ndombolo": (136.0, 0.82, 0.80, 4.6, "ln", "CD", 2005),
    "soukous": (150.0, 0.75, 0.78, 5.0, "ln", "CG", 1988),
    "afrobeats": (108.0, 0.70, 0.85, 3.6, "en", "NG", 2019),
    "amapiano": (113.0, 0.62, 0.80, 3.0, "zu", "ZA", 2021),
    "bongo_flava": (98.0, 0.60, 0.74, 3.2, "sw", "TZ", 2015),
    "gospel": (124.0, 0.55, 0.60, 2.8, "fr", "CD", 2010),
    "coupe_decale": (128.0, 0.85, 0.83, 4.8, "fr", "CI", 2008),
    "highlife": (118.0, 0.58, 0.72, 3.3, "en", "GH", 1980),
    "hiphop": (92.0, 0.72, 0.76, 3.1, "en", "US", 2012),
}
_TRACKS_PER_GENRE = 12
_TOP = 5


def _same_band(a: float, b: float) -> bool:
    """The acceptance test's tempo band: within 8 % of each other."""
    return max(a, b) / min(a, b) <= 1.08


def _synthetic_catalog(seed: int) -> tuple[list[tuple[dict, dict]], list[str], list[float]]:
    """~120 feature rows scattered around per-genre centroids, with random keys."""
    rng = np.random.default_rng(seed)
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    countries = ["CD", "NG", "ZA", "KE", "FR", "US", "GH", "SN"]
    rows, genres, tempi = [], [], []
    for genre, (tempo, energy, dance, onsets, language, country, year) in _GENRE_PROFILES.items():
        mfcc_centre = np.concatenate([[-600.0, rng.uniform(60, 160)], rng.normal(0, 20, 11)])
        std_centre = np.concatenate([[rng.uniform(30, 70)], rng.uniform(6, 20, 12)])
        centroid_hz = rng.uniform(900, 3500)
        for _ in range(_TRACKS_PER_GENRE):
            bpm = tempo + rng.uniform(-4.0, 4.0)
            key = int(rng.integers(12))
            chroma = rng.uniform(0.1, 1.0, 12)
            chroma[key] += 0.8
            features = _features(
                bpm=bpm,
                key=names[key],
                scale=str(rng.choice(["major", "minor"])),
                key_label=None,
                key_strength=rng.uniform(0.4, 0.9),
                energy=float(np.clip(energy + rng.normal(0, 0.06), 0, 1)),
                danceability=float(np.clip(dance + rng.normal(0, 0.06), 0, 1)),
                onset_rate=onsets * rng.uniform(0.85, 1.15),
                dynamic_complexity=rng.uniform(1.5, 6.0),
                spectral_centroid_hz=centroid_hz * rng.uniform(0.85, 1.15),
                spectral_flatness=rng.uniform(0.01, 0.12),
                mfcc_mean=list(mfcc_centre + rng.normal(0, 8, 13)),
                mfcc_std=list(std_centre * rng.uniform(0.85, 1.15, 13)),
                chroma_mean=list(chroma),
            )
            metadata = {
                "genre": genre,
                # Metadata is noisy: features and collaborations cross borders.
                "language": language if rng.random() < 0.75 else str(rng.choice(LANGUAGES)),
                "artist_country": country if rng.random() < 0.75 else str(rng.choice(countries)),
                "release_date": f"{year + int(rng.integers(-8, 9))}-01-01",
            }
            rows.append((features, metadata))
            genres.append(genre)
            tempi.append(bpm)
    return rows, genres, tempi


def test_same_genre_and_tempo_band_rank_first() -> None:
    rows, genres, tempi = _synthetic_catalog(seed=2024)
    matrix = embedding_matrix(rows)
    n = len(rows)
    assert n == len(_GENRE_PROFILES) * _TRACKS_PER_GENRE

    def relevant(i: int, j: int) -> bool:
        return genres[i] == genres[j] and _same_band(tempi[i], tempi[j])

    hits = same_genre = 0
    for i in range(n):
        neighbours = [j for j, _ in most_similar(matrix, i, k=_TOP)]
        hits += sum(relevant(i, j) for j in neighbours)
        same_genre += sum(genres[i] == genres[j] for j in neighbours)
    precision = hits / (n * _TOP)

    rng = np.random.default_rng(99)
    baseline_hits = 0
    for i in range(n):
        others = np.delete(np.arange(n), i)
        baseline_hits += sum(relevant(i, int(j)) for j in rng.choice(others, _TOP, replace=False))
    baseline = baseline_hits / (n * _TOP)

    assert precision >= 0.8, precision
    assert same_genre / (n * _TOP) >= 0.9
    assert baseline < 0.2
    assert precision >= 5 * baseline, (precision, baseline)


def test_audio_features_order_tracks_within_a_genre() -> None:
    """Same genre, tempo, key and metadata: the nearest track is the one that sounds closest."""
    quiet = _features(energy=0.3, danceability=0.4, onset_rate=2.0, spectral_centroid_hz=1200.0)
    loud = _features(energy=0.9, danceability=0.85, onset_rate=5.5, spectral_centroid_hz=3200.0)
    quiet_too = _features(
        energy=0.35, danceability=0.45, onset_rate=2.2, spectral_centroid_hz=1300.0
    )
    loud_too = _features(energy=0.88, danceability=0.8, onset_rate=5.0, spectral_centroid_hz=3000.0)
    matrix = embedding_matrix([(f, _metadata()) for f in (quiet, loud, quiet_too, loud_too)])
    assert most_similar(matrix, 0, k=1)[0][0] == 2
    assert most_similar(matrix, 1, k=1)[0][0] == 3
    assert matrix[0] @ matrix[1] < 0.95  # distinct vectors, not a genre-only embedding
