"""The platform's genre taxonomy.

Uploads must name a genre from this list (ingestion validates it), the
recommender uses it as a content feature, and royalties need to know which
"genres" are not music at all (sleep and noise sounds earn nothing under the
artist-centric model).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Genre:
    """One genre: a stable id used everywhere, a display name, and whether it is music."""

    id: str
    name: str
    african: bool
    is_music: bool = True


GENRES: tuple[Genre, ...] = (
    Genre("rumba_congolaise", "Rumba congolaise", african=True),
    Genre("ndombolo", "Ndombolo", african=True),
    Genre("soukous", "Soukous", african=True),
    Genre("afrobeats", "Afrobeats", african=True),
    Genre("amapiano", "Amapiano", african=True),
    Genre("bongo_flava", "Bongo Flava", african=True),
    Genre("gospel", "Gospel", african=True),
    Genre("coupe_decale", "Coupé-décalé", african=True),
    Genre("highlife", "Highlife", african=True),
    Genre("pop", "Pop", african=False),
    Genre("hiphop", "Hip-hop", african=False),
    Genre("rnb", "R&B", african=False),
    Genre("rock", "Rock", african=False),
    Genre("jazz", "Jazz", african=False),
    Genre("electronic", "Electronic", african=False),
    Genre("reggae", "Reggae", african=False),
    Genre("classical", "Classical", african=False),
    Genre("sleep_sounds", "Sleep & noise", african=False, is_music=False),
)

GENRE_IDS: tuple[str, ...] = tuple(g.id for g in GENRES)
_BY_ID = {g.id: g for g in GENRES}


def genre(genre_id: str) -> Genre:
    """Look a genre up by id; KeyError names the bad id."""
    try:
        return _BY_ID[genre_id]
    except KeyError:
        raise KeyError(f"unknown genre {genre_id!r}") from None


def normalise_genre(text: str) -> str | None:
    """Map a free-text genre ("Coupé-Décalé", "Bongo flava") to its id, or None if unknown."""
    key = _slug(text)
    aliases = {"rumba": "rumba_congolaise", "hip_hop": "hiphop", "r_b": "rnb", "randb": "rnb"}
    key = aliases.get(key, key)
    if key in _BY_ID:
        return key
    for g in GENRES:
        if _slug(g.name) == key:
            return g.id
    return None


def _slug(text: str) -> str:
    """ASCII, lower case, runs of other characters folded to one underscore."""
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")
