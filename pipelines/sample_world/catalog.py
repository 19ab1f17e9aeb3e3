"""The sample world's catalog: labels, artists, albums, tracks, payees and rights splits.

Tracks carry both what a delivery declares (ISRC, UPC, genre, territories,
splits) and the hidden truth the audio is synthesised from (tempo, key,
style), which lands in the ground-truth file for feature-accuracy tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from audio.taxonomy import GENRE_IDS, genre
from pipelines.sample_world import names
from pipelines.sample_world.geography import MARKET_CODES, MARKETS
from pipelines.sample_world.scales import Scale

# genre -> (synth style, tempo range in BPM, earliest release year, artist regions weights)
# Tempo ranges span 60-180 BPM so the feature-accuracy figures cover slow and fast music,
# where beat trackers are most tempted to report half or double the tempo.
GENRE_TRAITS: dict[str, tuple[str, tuple[int, int], int, dict[str, float]]] = {
    "rumba_congolaise": ("rumba", (92, 118), 1965, {"central": 1.0}),
    "ndombolo": ("ndombolo", (130, 150), 1995, {"central": 1.0}),
    "soukous": ("soukous", (125, 160), 1975, {"central": 0.8, "east": 0.2}),
    "afrobeats": ("afrobeats", (96, 118), 2008, {"west": 0.9, "diaspora": 0.1}),
    "amapiano": ("amapiano", (108, 116), 2015, {"south": 1.0}),
    "bongo_flava": ("bongo_flava", (88, 112), 2000, {"east": 1.0}),
    "gospel": ("gospel", (60, 128), 1980, {"central": 0.3, "west": 0.3, "east": 0.2, "south": 0.2}),
    "coupe_decale": ("coupe_decale", (128, 146), 2003, {"west": 1.0}),
    "highlife": ("highlife", (108, 132), 1960, {"west": 1.0}),
    "pop": ("pop", (90, 130), 1990, {"diaspora": 0.7, "south": 0.3}),
    "hiphop": ("hiphop", (80, 100), 1995, {"diaspora": 0.5, "south": 0.2, "west": 0.3}),
    "rnb": ("rnb", (60, 90), 1995, {"diaspora": 0.6, "west": 0.4}),
    "rock": ("rock", (110, 180), 1970, {"diaspora": 0.8, "south": 0.2}),
    "jazz": ("jazz", (70, 180), 1960, {"diaspora": 0.5, "south": 0.5}),
    "electronic": ("electronic", (118, 130), 1995, {"diaspora": 0.6, "south": 0.4}),
    "reggae": ("reggae", (62, 84), 1975, {"east": 0.4, "west": 0.3, "diaspora": 0.3}),
    "sleep_sounds": ("noise", (60, 60), 2015, {"diaspora": 1.0}),
}
SWING_STYLES = {"jazz": 0.28, "hiphop": 0.18, "rnb": 0.12, "highlife": 0.08, "amapiano": 0.1}
REGION_LANGUAGE = {"central": "ln", "west": "en", "south": "zu", "east": "sw", "diaspora": "fr"}


@dataclass(frozen=True)
class Catalog:
    """Every catalog table of one world, as polars frames."""

    labels: pl.DataFrame
    artists: pl.DataFrame
    albums: pl.DataFrame
    tracks: pl.DataFrame
    payees: pl.DataFrame
    rights_splits: pl.DataFrame


def gtin_check_digit(body: str) -> int:
    """GS1 check digit for a UPC/EAN body (weights 3,1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def make_upc(index: int) -> str:
    """A valid 12-digit UPC-A for the index-th album."""
    body = f"19{index:09d}"
    return body + str(gtin_check_digit(body))


def make_isrc(country: str, registrant: str, year: int, designation: int) -> str:
    """A 12-character ISRC without hyphens (CC XXX YY NNNNN)."""
    return f"{country}{registrant}{year % 100:02d}{designation:05d}"


def split_shares(rng: np.random.Generator, count: int) -> list[str]:
    """`count` positive percentage shares with two decimals that sum to exactly 100.00."""
    if count == 1:
        return ["100.00"]
    raw = rng.dirichlet(np.full(count, 2.0)) * 10_000
    cents = np.maximum(np.floor(raw).astype(np.int64), 100)
    cents[int(np.argmax(cents))] += 10_000 - int(cents.sum())
    return [f"{c // 100}.{c % 100:02d}" for c in cents]


def _regions() -> dict[str, list[int]]:
    by_region: dict[str, list[int]] = {}
    for i, m in enumerate(MARKETS):
        by_region.setdefault(m.region, []).append(i)
    return by_region


def generate_catalog(scale: Scale, seed: int) -> Catalog:
    """Build the catalog for a scale; deterministic in (scale, seed)."""
    rng = np.random.default_rng([seed, 1])
    by_region = _regions()
    music_genres = [g for g in GENRE_IDS if genre(g).is_music and g in GENRE_TRAITS]

    # labels
    label_rows = []
    for i in range(scale.labels):
        m = MARKETS[int(rng.choice(len(MARKETS), p=_weights([m.artist_weight for m in MARKETS])))]
        registrant = "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), size=3))
        label_rows.append({
            "label_id": f"lab_{i:04d}", "name": names.label_name(rng), "country": m.code,
            "isrc_registrant": registrant, "currency": m.currency,
        })
    labels = pl.DataFrame(label_rows)

    # artists: genre first, then a country where that genre lives
    genre_weights = _weights([3.0 if genre(g).african else 1.0 for g in music_genres])
    artist_rows = []
    for i in range(scale.artists):
        is_noise = i == scale.artists - 1 and scale.artists >= 10
        g = "sleep_sounds" if is_noise else str(rng.choice(music_genres, p=genre_weights))
        regions = GENRE_TRAITS[g][3]
        region = str(rng.choice(list(regions), p=_weights(list(regions.values()))))
        countries = by_region[region]
        c = int(rng.choice(countries, p=_weights([MARKETS[j].artist_weight for j in countries])))
        label = None if rng.random() < 0.25 else str(labels["label_id"][int(rng.integers(scale.labels))])
        artist_rows.append({
            "artist_id": f"art_{i:05d}",
            "name": "Deep Rain Collective" if is_noise else names.artist_name(rng, region),
            "country": MARKETS[c].code, "region": region, "genre": g, "label_id": label,
            "popularity": 0.0,
        })
    # power-law artist popularity, ranks shuffled so popularity is independent of index
    ranks = rng.permutation(scale.artists) + 1
    for row, rank in zip(artist_rows, ranks, strict=True):
        row["popularity"] = float(1.0 / rank**1.05)
    artists = pl.DataFrame(artist_rows)

    tracks_per_artist = _spread(rng, scale.tracks, scale.artists)
    if artist_rows[-1]["genre"] == "sleep_sounds":
        # noise is a small corner of any real catalog
        keep = min(tracks_per_artist[-1], max(1, scale.tracks // 40))
        tracks_per_artist[0] += tracks_per_artist[-1] - keep
        tracks_per_artist[-1] = keep
    label_codes = {r["label_id"]: (r["isrc_registrant"], r["country"]) for r in label_rows}
    album_rows, track_rows = [], []
    window_end = scale.end
    track_index = 0
    for a, n_tracks in zip(artist_rows, tracks_per_artist, strict=True):
        style, (bpm_lo, bpm_hi), first_year, _ = GENRE_TRAITS[a["genre"]]
        remaining = n_tracks
        while remaining > 0:
            size = min(remaining, int(rng.choice([1, 1, 2, 4, 6, 10])))
            remaining -= size
            is_new = rng.random() < 0.1
            if is_new:
                release = scale.start + dt.timedelta(days=int(rng.integers(0, scale.days)))
            else:
                year = int(rng.integers(max(first_year, 1960), scale.start.year + 1))
                release = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
                release = min(release, scale.start - dt.timedelta(days=1))
            album_index = len(album_rows)
            album_id = f"alb_{album_index:06d}"
            kind = "single" if size == 1 else ("ep" if size <= 6 else "album")
            album_rows.append({
                "album_id": album_id, "upc": make_upc(album_index), "title": names.title(rng),
                "artist_id": a["artist_id"], "label_id": a["label_id"], "release_date": release,
                "kind": kind, "track_count": size,
            })
            registrant, country = _registrant(label_codes, a)
            for number in range(1, size + 1):
                lo, hi = scale.duration_range_s
                track_rows.append({
                    "track_id": make_isrc(country, registrant, release.year, track_index),
                    "isrc": make_isrc(country, registrant, release.year, track_index),
                    "title": names.title(rng), "artist_id": a["artist_id"], "album_id": album_id,
                    "upc": album_rows[-1]["upc"], "label_id": a["label_id"], "track_number": number,
                    "genre": a["genre"] if rng.random() < 0.9 or a["genre"] == "sleep_sounds"
                    else str(rng.choice(music_genres)),
                    "language": REGION_LANGUAGE[a["region"]] if a["genre"] != "sleep_sounds" else "zxx",
                    "release_date": release, "is_new_release": bool(is_new and release <= window_end),
                    "duration_ms": int(round(rng.uniform(lo, hi) * 1000)),
                    "explicit": bool(rng.random() < (0.25 if a["genre"] in ("hiphop", "afrobeats") else 0.04)),
                    "territories": _territories(rng),
                    "bpm": float(rng.integers(bpm_lo, bpm_hi + 1)),
                    "tonic": int(rng.integers(12)), "mode": "major" if rng.random() < 0.6 else "minor",
                    "style": style, "swing": SWING_STYLES.get(style, 0.0) * float(rng.random() < 0.8),
                    "level_db": float(np.round(rng.uniform(-22.0, -11.0), 1)),
                    "popularity": a["popularity"] * float(rng.lognormal(0.0, 0.6)) / number**0.5,
                    "is_music": genre(a["genre"]).is_music,
                })
                track_index += 1
    tracks = pl.DataFrame(track_rows).with_columns(pl.col("territories").cast(pl.List(pl.Utf8)))
    albums = pl.DataFrame(album_rows)
    payees, splits = _rights(rng, artists, labels, tracks)
    return Catalog(labels, artists, albums, tracks, payees, splits)


def _weights(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr / arr.sum()


def _spread(rng: np.random.Generator, total: int, buckets: int) -> list[int]:
    """At least one track per artist, the rest spread unevenly (prolific artists exist)."""
    extra = rng.multinomial(total - buckets, rng.dirichlet(np.full(buckets, 0.8)))
    return [1 + int(e) for e in extra]


def _registrant(label_codes: dict[str, tuple[str, str]], artist: dict) -> tuple[str, str]:
    """ISRC registrant and country: the label's, or CongoWave's own code for self-released artists."""
    if artist["label_id"] is None:
        return "CWX", artist["country"]
    return label_codes[artist["label_id"]]


def _territories(rng: np.random.Generator) -> list[str]:
    """Mostly worldwide; some deals leave out a few markets (licensing gaps are real)."""
    if rng.random() < 0.85:
        return ["WW"]
    excluded = set(rng.choice(MARKET_CODES, size=int(rng.integers(1, 4)), replace=False))
    return [c for c in MARKET_CODES if c not in excluded]


def _rights(
    rng: np.random.Generator, artists: pl.DataFrame, labels: pl.DataFrame, tracks: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Payees and per-track recording/publishing splits, each right summing to exactly 100%."""
    payee_rows = []
    for a in artists.iter_rows(named=True):
        currency = next(m.currency for m in MARKETS if m.code == a["country"])
        payee_rows.append({"payee_id": f"pay_{a['artist_id']}", "name": a["name"], "kind": "artist",
                           "country": a["country"], "currency": currency})
    for lab in labels.iter_rows(named=True):
        payee_rows.append({"payee_id": f"pay_{lab['label_id']}", "name": lab["name"], "kind": "label",
                           "country": lab["country"], "currency": lab["currency"]})
    n_publishers = max(2, len(labels) // 2)
    for p in range(n_publishers):
        m = MARKETS[p % len(MARKETS)]
        payee_rows.append({"payee_id": f"pay_pub_{p:03d}", "name": f"{names.label_name(rng)} Publishing",
                           "kind": "publisher", "country": m.code, "currency": m.currency})
    writers_per_artist: dict[str, list[str]] = {}
    for a in artists.iter_rows(named=True):
        ids = []
        for w in range(int(rng.integers(1, 4))):
            pid = f"pay_wr_{a['artist_id'][4:]}_{w}"
            currency = next(m.currency for m in MARKETS if m.code == a["country"])
            payee_rows.append({"payee_id": pid, "name": names.person_name(rng, a["region"]),
                               "kind": "songwriter", "country": a["country"], "currency": currency})
            ids.append(pid)
        writers_per_artist[a["artist_id"]] = ids

    split_rows = []
    for t in tracks.select("track_id", "artist_id", "label_id").iter_rows(named=True):
        recording = [f"pay_{t['artist_id']}"]
        if t["label_id"] is not None:
            recording = [f"pay_{t['label_id']}", f"pay_{t['artist_id']}"]
        for pid, share in zip(recording, split_shares(rng, len(recording)), strict=True):
            split_rows.append({"track_id": t["track_id"], "right_type": "recording", "payee_id": pid,
                               "share_pct": share})
        publishing = list(writers_per_artist[t["artist_id"]])
        if rng.random() < 0.6:
            publishing.append(f"pay_pub_{int(rng.integers(n_publishers)):03d}")
        for pid, share in zip(publishing, split_shares(rng, len(publishing)), strict=True):
            split_rows.append({"track_id": t["track_id"], "right_type": "publishing", "payee_id": pid,
                               "share_pct": share})
    return pl.DataFrame(payee_rows), pl.DataFrame(split_rows)
