"""Deterministic demo data: the same seed always gives the same documents.

Pure functions (no I/O) shared by the seed command and the tests.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId

from mongoshop.models.money import Money
from mongoshop.models.products import Inventory, ProductCreate, Reviews
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
OPENING_BALANCE = 150_000
"""Each demo wallet starts with 1,500.00 in the shop's currency."""
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


CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    # category: (nouns, tags, price range in cents)
    "books": (
        ("Novel", "Cookbook", "Atlas", "Guide", "Anthology"),
        ("paper", "gift", "bestseller"),
        (500, 4_500),
    ),
    "electronics": (
        ("Headphones", "Charger", "Speaker", "Keyboard", "Webcam"),
        ("wireless", "usb-c", "new"),
        (1_500, 60_000),
    ),
    "kitchen": (
        ("Mug", "Teapot", "Knife", "Pan", "Grinder"),
        ("ceramic", "steel", "gift"),
        (800, 15_000),
    ),
    "garden": (
        ("Trowel", "Planter", "Hose", "Seeds", "Lantern"),
        ("outdoor", "eco", "summer"),
        (300, 9_000),
    ),
    "sports": (
        ("Ball", "Racket", "Mat", "Bottle", "Helmet"),
        ("outdoor", "fitness", "new"),
        (900, 25_000),
    ),
    "toys": (
        ("Puzzle", "Robot", "Kite", "Blocks", "Plush"),
        ("kids", "gift", "wooden"),
        (400, 7_500),
    ),
}
ADJECTIVES = (
    "Classic",
    "Compact",
    "Deluxe",
    "Élégant",
    "Rustic",
    "Smart",
    "Tiny",
    "Vintage",
    "Zen",
)


def demo_object_id(kind: str, seed: int, index: int) -> ObjectId:
    """A stable id for demo document `index`: seeding twice inserts nothing new."""
    digest = hashlib.sha256(f"{kind}:{seed}:{index}".encode()).digest()
    return ObjectId(digest[:12])


def demo_products(count: int, seed: int, currency: str) -> Iterator[tuple[ObjectId, ProductCreate]]:
    """`count` validated products across the categories, each with its stable id."""
    rng = random.Random(f"products:{seed}")
    categories = sorted(CATALOG)
    for index in range(count):
        category = categories[index % len(categories)]
        nouns, tags, (low, high) = CATALOG[category]
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)} {index + 1}"
        yield (
            demo_object_id("product", seed, index),
            ProductCreate(
                name=name,
                description=f"A {name.lower()} from the {category} aisle.",
                category=category,
                price=Money(amount=rng.randrange(low, high, 5), currency=currency),
                tags=sorted(rng.sample(tags, rng.randint(1, len(tags)))),
                inventory=Inventory(quantity=rng.choice([0, *range(20, 400)])),
                reviews=Reviews(rating=round(rng.uniform(2.5, 5.0), 1), count=rng.randint(0, 900)),
            ),
        )


@dataclass(frozen=True)
class DemoOrder:
    key: str
    """Idempotency key: seeding twice places each demo order once."""
    buyer_index: int
    items: tuple[tuple[int, int], ...]
    """(product index, quantity) pairs."""
    placed_at: datetime


def demo_orders(
    count: int, seed: int, buyers: int, products: int, now: datetime, months: int = 6
) -> Iterator[DemoOrder]:
    """`count` orders spread over the last `months` months, oldest first."""
    if buyers == 0 or products == 0:
        return
    rng = random.Random(f"orders:{seed}")
    span = timedelta(days=30 * months).total_seconds()
    offsets = sorted((rng.uniform(0, span) for _ in range(count)), reverse=True)
    for index, offset in enumerate(offsets):
        lines = rng.randint(1, 3)
        chosen = rng.sample(range(products), min(lines, products))
        yield DemoOrder(
            key=f"demo-{seed}-{index}",
            buyer_index=rng.randrange(buyers),
            items=tuple((product, rng.randint(1, 2)) for product in chosen),
            placed_at=now - timedelta(seconds=offset),
        )
