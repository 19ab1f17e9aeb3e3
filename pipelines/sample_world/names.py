"""Plausible, invented names for artists, labels, people and titles.

Names are built from syllables and word lists per region so the catalog reads
like African and diaspora music without naming any real person.
"""

from __future__ import annotations

import numpy as np

FIRST = {
    "central": ["Fally", "Koffi", "Ferre", "Papa", "Innoss", "Gaz", "Fabregas", "Héritier", "Mbilia", "Tshala",
                "Bibi", "Jossart", "Dadju", "Naza", "Werra", "Madilu", "Reddy", "Barbara", "Nathalie", "Celeo"],
    "west": ["Ayo", "Tunde", "Kemi", "Chidi", "Kojo", "Ama", "Yemi", "Seun", "Adaeze", "Kwame", "Efua", "Bisi",
             "Fatou", "Mamadou", "Awa", "Serge", "Didi", "Aya", "Ibrahim", "Kofi"],
    "south": ["Thabo", "Lerato", "Sipho", "Zanele", "Kabza", "Nomcebo", "Bongani", "Ayanda", "Lindiwe", "Tumi"],
    "east": ["Juma", "Neema", "Baraka", "Zuhura", "Amani", "Wanjiru", "Otieno", "Rehema", "Jabali", "Nyokabi"],
    "diaspora": ["Léa", "Jules", "Maya", "Noah", "Inès", "Sam", "Chloé", "Marcus", "Nina", "Yann"],
}
SYLLABLES = ["ba", "ko", "la", "mi", "nde", "tshi", "wa", "ka", "zo", "lu", "ma", "si", "bo", "ye", "ra", "ngo",
             "mba", "ku", "fa", "do", "ji", "to", "we", "sa", "ne", "ol", "ade", "chi", "ola", "emi"]
STAGE = ["Star", "Boy", "Queen", "Lion", "King", "Baby", "Prince", "Lady", "Mix", "Beat", "Soul", "Nation"]
LABEL_WORDS = ["Kin", "Sound", "Records", "Music", "Wave", "Lion", "Savannah", "Rhythm", "Ndako", "Bantu",
               "Baobab", "Lagos", "Soweto", "Pwani", "Ivoire", "Kongo", "Zenith", "Ubuntu", "Sahel", "Gold"]
TITLE_WORDS = ["Motema", "Bolingo", "Lobi", "Mokili", "Ndeko", "Love", "Fire", "Dance", "Night", "Sunrise",
               "Mama", "Baba", "Dream", "City", "Heaven", "Rain", "Road", "Sister", "Freedom", "Money", "Party",
               "Sweet", "Forever", "Jolie", "Amour", "Pesa", "Upendo", "Nyumbani", "Ife", "Oluwa", "Ayo",
               "Gold", "River", "Kongo", "Soul", "Fever", "Glory", "Vibes", "Wahala", "Sawa", "Jama", "Mwana"]


def invented_surname(rng: np.random.Generator) -> str:
    """Two or three syllables, capitalised."""
    count = int(rng.integers(2, 4))
    return "".join(rng.choice(SYLLABLES, size=count)).capitalize()


def person_name(rng: np.random.Generator, region: str) -> str:
    """A first name from the region and an invented surname."""
    return f"{rng.choice(FIRST[region])} {invented_surname(rng)}"


def artist_name(rng: np.random.Generator, region: str) -> str:
    """A stage name, a person's name, or a band name."""
    style = rng.random()
    if style < 0.45:
        return person_name(rng, region)
    if style < 0.8:
        return f"{rng.choice(FIRST[region])} {rng.choice(STAGE)}"
    return f"{invented_surname(rng)} {rng.choice(['Band', 'Sound', 'Orchestra', 'Crew', 'Collective'])}"


def label_name(rng: np.random.Generator) -> str:
    """Two label words, e.g. 'Kongo Wave Records'."""
    first, second = rng.choice(LABEL_WORDS, size=2, replace=False)
    return f"{first} {second} {rng.choice(['Records', 'Music', 'Entertainment', 'Sounds'])}"


def title(rng: np.random.Generator) -> str:
    """One to three title words."""
    count = int(rng.choice([1, 2, 2, 3]))
    return " ".join(rng.choice(TITLE_WORDS, size=count, replace=False))
