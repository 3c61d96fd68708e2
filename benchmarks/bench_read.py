"""Read path: N user documents fetched and turned into validated models.

Contenders: raw PyMongo dicts (baseline), raw PyMongo + a pydantic TypeAdapter,
mongoshop's repository on the sync and async faces, and Beanie (async).

    python -m benchmarks.bench_read [--sizes 1000 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import datetime
from typing import Any

from pydantic import Field, TypeAdapter
from pymongo import AsyncMongoClient, MongoClient

from benchmarks.harness import (
    Contender,
    console,
    embedded_server,
    measure,
    paired_ratios,
    report,
    save,
)
from mongoshop._async.repositories.users import user_document
from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.demo import demo_user_fields
from mongoshop.models.users import UserInDB
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings


def user_documents(count: int) -> list[dict[str, Any]]:
    password_hash = PasswordHasher().hash("benchmark-password")
    return [
        user_document(password_hash=password_hash, **fields)
        for fields in demo_user_fields(count, seed=11)
    ]  # type: ignore[arg-type]


def beanie_contender(
    uri: str, database: str, count: int, loop: asyncio.AbstractEventLoop
) -> Contender | None:
    try:
        from beanie import Document, init_beanie
    except ImportError:
        return None
    from mongoshop.models.users import Role, UserPreferences, UserStatus

    class BeanieUser(Document):
        name: str
        email: str
        age: int | None = None
        status: UserStatus
        roles: list[Role]
        preferences: UserPreferences
        password_hash: str | None = None
        created_at: datetime
        updated_at: datetime
        last_login: datetime | None = None
        login_count: int = 0
        search_tokens: list[str] = Field(default_factory=list)

        class Settings:
            name = "users"

    client: AsyncMongoClient[Any] = AsyncMongoClient(uri, tz_aware=True)
    loop.run_until_complete(init_beanie(database=client[database], document_models=[BeanieUser]))

    def run() -> float:
        users = loop.run_until_complete(BeanieUser.find_all(limit=count).to_list())
        return len(users)

    return Contender("beanie (async)", run)


def read_contenders(
    collection: Any,
    adapter: TypeAdapter[list[UserInDB]],
    shop: Shop,
    ashop: AsyncShop,
    size: int,
    loop: asyncio.AbstractEventLoop,
) -> list[Contender]:
    def raw() -> float:
        return len(list(collection.find({}).limit(size)))

    def raw_adapter() -> float:
        return len(adapter.validate_python(list(collection.find({}).limit(size))))

    def sync_face() -> float:
        return len(shop.repositories.users.find_many({}, limit=size))

    def async_face() -> float:
        return len(loop.run_until_complete(ashop.repositories.users.find_many({}, limit=size)))

    return [
        Contender("raw pymongo dicts", raw),
        Contender("raw pymongo + TypeAdapter", raw_adapter),
        Contender("mongoshop sync", sync_face),
        Contender("mongoshop async", async_face),
    ]


def versus(ours: list[Contender], beanie: Contender) -> dict[str, float]:
    """How many times Beanie's throughput each face reaches, paired round by round."""
    result = {}
    for contender in ours:
        ratio = statistics.median(paired_ratios(contender, beanie))
        console.print(f"{contender.name} / {beanie.name}: {ratio:.2f}x (paired median)")
        result[contender.name] = ratio
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri:
        loop = asyncio.new_event_loop()
        for size in args.sizes:
            database = f"bench_read_{size}"
            settings = Settings(mongodb_uri=uri, mongodb_database=database)  # type: ignore[call-arg]
            client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
            client.drop_database(database)
            client[database].users.insert_many(user_documents(size))
            collection = client[database].users
            adapter = TypeAdapter(list[UserInDB])
            shop = Shop(client[database], settings)
            aclient: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
            ashop = AsyncShop(aclient[database], settings)

            contenders = read_contenders(collection, adapter, shop, ashop, size, loop)
            beanie = beanie_contender(uri, database, size, loop)
            if beanie is not None:
                contenders.append(beanie)
            measure(contenders, rounds=args.rounds)
            case = report("read", f"{size} users", contenders, "docs", "raw pymongo dicts")
            if beanie is not None:
                case["versus_beanie"] = versus(contenders[2:4], beanie)
            cases.append(case)
            client.drop_database(database)
            client.close()
            loop.run_until_complete(aclient.close())
        loop.close()
    save("read", cases)


if __name__ == "__main__":
    main()
