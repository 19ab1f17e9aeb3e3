"""The hidden taste structure that listening behaviour is generated from.

A good recommender should rediscover it: users belong to taste clusters that
mix genres and lean towards a region's music, popularity is a power law, and
listeners favour artists from their own country and region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio.taxonomy import GENRE_IDS
from pipelines.sample_world.geography import MARKET_CODES, MARKETS


@dataclass(frozen=True)
class TasteCluster:
    """A group of listeners: genre mix and the countries where it is common."""

    name: str
    genres: dict[str, float]
    home: dict[str, float]  # country -> how common the cluster is there (relative)


CLUSTERS: tuple[TasteCluster, ...] = (
    TasteCluster("kinshasa_classics", {"rumba_congolaise": 0.45, "soukous": 0.3, "ndombolo": 0.2, "gospel": 0.05},
                 {"CD": 3.0, "CG": 3.0, "CM": 1.0, "BE": 1.5, "FR": 1.0}),
    TasteCluster("ndombolo_party", {"ndombolo": 0.45, "coupe_decale": 0.2, "soukous": 0.15, "afrobeats": 0.2},
                 {"CD": 3.0, "CG": 2.0, "CI": 1.0, "CM": 1.5, "FR": 0.8}),
    TasteCluster("naija_pop", {"afrobeats": 0.55, "highlife": 0.15, "hiphop": 0.15, "rnb": 0.15},
                 {"NG": 3.0, "GH": 2.0, "GB": 1.5, "US": 1.0, "KE": 0.5}),
    TasteCluster("ghana_highlife", {"highlife": 0.5, "afrobeats": 0.3, "gospel": 0.2},
                 {"GH": 3.0, "NG": 1.0, "GB": 0.5}),
    TasteCluster("sa_dance", {"amapiano": 0.6, "electronic": 0.2, "hiphop": 0.1, "gospel": 0.1},
                 {"ZA": 4.0, "KE": 0.6, "NG": 0.6, "GB": 0.4}),
    TasteCluster("east_africa", {"bongo_flava": 0.6, "afrobeats": 0.2, "gospel": 0.1, "reggae": 0.1},
                 {"TZ": 4.0, "KE": 3.0, "CD": 0.3}),
    TasteCluster("abidjan_nights", {"coupe_decale": 0.6, "ndombolo": 0.15, "afrobeats": 0.25},
                 {"CI": 4.0, "SN": 2.5, "CM": 1.0, "FR": 0.8}),
    TasteCluster("praise", {"gospel": 0.8, "rnb": 0.1, "highlife": 0.1},
                 {"NG": 1.0, "CD": 1.0, "KE": 1.0, "ZA": 1.0, "GH": 1.0, "CM": 0.8}),
    TasteCluster("global_pop", {"pop": 0.4, "rnb": 0.2, "hiphop": 0.2, "electronic": 0.2},
                 {"FR": 1.5, "BE": 1.5, "GB": 2.0, "US": 2.0, "ZA": 0.8, "NG": 0.5, "KE": 0.6}),
    TasteCluster("hiphop_heads", {"hiphop": 0.6, "rnb": 0.2, "afrobeats": 0.1, "amapiano": 0.1},
                 {"US": 2.0, "ZA": 1.0, "SN": 1.0, "NG": 0.6, "FR": 1.0}),
    TasteCluster("rock_jazz", {"rock": 0.45, "jazz": 0.4, "reggae": 0.15},
                 {"GB": 1.2, "US": 1.2, "FR": 1.0, "ZA": 0.5, "BE": 0.8}),
    TasteCluster("sleep", {"sleep_sounds": 0.5, "jazz": 0.2, "gospel": 0.3},
                 {code: 0.08 for code in MARKET_CODES}),
)

CLUSTER_NAMES: tuple[str, ...] = tuple(c.name for c in CLUSTERS)


def cluster_genre_matrix() -> np.ndarray:
    """(clusters, genres) matrix of genre probabilities, rows summing to 1, columns in GENRE_IDS order."""
    matrix = np.zeros((len(CLUSTERS), len(GENRE_IDS)), dtype=np.float64)
    index = {g: i for i, g in enumerate(GENRE_IDS)}
    for row, cluster in enumerate(CLUSTERS):
        for genre_id, weight in cluster.genres.items():
            matrix[row, index[genre_id]] = weight
    return matrix / matrix.sum(axis=1, keepdims=True)


def country_cluster_matrix() -> np.ndarray:
    """(countries, clusters) matrix: probability that a user of a country is in each cluster."""
    matrix = np.full((len(MARKETS), len(CLUSTERS)), 0.05, dtype=np.float64)
    for col, cluster in enumerate(CLUSTERS):
        for row, m in enumerate(MARKETS):
            matrix[row, col] += cluster.home.get(m.code, 0.0)
    return matrix / matrix.sum(axis=1, keepdims=True)


def cultural_affinity(user_country: np.ndarray, artist_country: np.ndarray) -> np.ndarray:
    """Multiplier on listening probability: same country 3x, same region 1.8x, else 1x.

    Arrays hold indices into MARKETS. This is the planted "cultural affinity"
    signal the recommender is asked to use as a feature.
    """
    regions = np.array([m.region for m in MARKETS])
    same_country = user_country == artist_country
    same_region = regions[user_country] == regions[artist_country]
    return np.where(same_country, 3.0, np.where(same_region, 1.8, 1.0))
