"""Deterministic demo data: the same seed always gives the same documents.

Pure functions (no I/O) shared by the seed command and the tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from mongoshop.models.users import UserPreferences
from mongoshop.search import normalize

FIRST_NAMES = [
    "Alice",
    "Bruno",
    "Chloé",
    "Daniel",
    "Élodie",
    "François",
    "Gabrielle",
    "Hugo",
    "Inès",
    "Jules",
    "Karim",
    "Léa",
    "Mathis",
    "Nina",
    "Océane",
    "Pierre",
    "Quentin",
    "Rose",
    "Sébastien",
    "Thaïs",
    "Ugo",
    "Valérie",
    "William",
    "Xavier",
    "Yasmine",
    "Zoé",
    "Amélie",
    "Benoît",
    "Céline",
    "Dmitri",
    "Emma",
    "Fatou",
    "Grace",
    "Hiroshi",
    "Ingrid",
    "José",
    "Kwame",
    "Lucía",
    "Mei",
    "Noah",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèbvre",
    "Michel",
    "García",
    "Müller",
    "Nakamura",
    "Okafor",
    "Rossi",
    "Novák",
    "Svensson",
    "Kowalski",
    "O'Brien",
    "Nguyen",
    "Dupont",
    "Fontaine",
    "Chevalier",
    "Rousseau",
    "Blanc",
    "Guérin",
]
LANGUAGES = ("en", "fr", "fr", "en", "es", "de")
TIMEZONES = ("UTC", "Europe/Paris", "Europe/Berlin", "America/New_York", "Asia/Tokyo")

DEMO_PASSWORD = "demo-password"
"""Every seeded user's password, so a visitor can sign in as any of them."""


def demo_user_fields(count: int, seed: int) -> Iterator[dict[str, object]]:
    """`count` users' fields: name, email, age, preferences. E-mails are unique per seed."""
    rng = random.Random(seed)
    for index in range(count):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("'", "")
        yield {
            "name": f"{first} {last}",
            "email": f"{_ascii(local)}.{seed}.{index}@example.com",
            "age": rng.choice([None, *range(18, 80)]),
            "preferences": UserPreferences(
                language=rng.choice(LANGUAGES),
                timezone=rng.choice(TIMEZONES),
                notifications=rng.random() < 0.8,
            ),
        }


def _ascii(text: str) -> str:
    return "".join(ch for ch in normalize(text) if ch.isascii() and (ch.isalnum() or ch == "."))
