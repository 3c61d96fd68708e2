"""The declarations of every collection (indexes, validators, pre-images) against the
server's: plan, apply, start-up (`AsyncShop.declarations`).

Start-up (`create_missing`) only creates what is missing and warns about the
rest; dropping or rebuilding an index is a decision an operator takes with
``mongoshop db indexes --apply``, after reading the plan (``mongoshop db
indexes``). Only indexes mongoshop recorded as its own are ever dropped or
rebuilt (`AsyncSchemaRepository`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pymongo.errors import OperationFailure

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop._async.repositories.schema import AsyncSchemaRepository
from mongoshop.collection_schemas import STRICT, json_schema_for
from mongoshop.index_plan import CollectionPlan, IndexSpec, plan_indexes

logger = logging.getLogger(__name__)

APPLY_COMMAND = "mongoshop db indexes --apply"
NAMESPACE_NOT_FOUND = 26


class AsyncDeclarations:
    def __init__(
        self, repositories: Sequence[AsyncRepository[Any]], registry: AsyncSchemaRepository
    ) -> None:
        self.repositories = repositories
        self.registry = registry

    async def plan(self) -> list[CollectionPlan]:
        """Every collection's plan, from what the server has and what mongoshop owns."""
        owned = await self.registry.owned_indexes()
        validators = await self._validators()
        plans = []
        for repository in self.repositories:
            information = await repository.collection.index_information()
            existing = {name: IndexSpec.existing(name, info) for name, info in information.items()}
            declared = [IndexSpec.declared(model) for model in repository.indexes]
            plan = plan_indexes(
                repository.collection_name,
                declared,
                existing,
                owned.get(repository.collection_name, ()),
            )
            wanted = {"$jsonSchema": json_schema_for(repository.model)}
            current = validators.get(repository.collection_name)
            if current != wanted:
                plan.validator = wanted
                plan.validator_missing = current is None
            plans.append(plan)
        return plans

    async def _options(self) -> dict[str, dict[str, Any]]:
        """Every collection's options, from one ``listCollections``."""
        if not self.repositories:
            return {}
        database = self.repositories[0].collection.database
        cursor = await database.list_collections()
        return {info["name"]: info.get("options", {}) for info in await cursor.to_list()}

    async def _validators(self) -> dict[str, dict[str, Any]]:
        return {
            name: options["validator"]
            for name, options in (await self._options()).items()
            if "validator" in options
        }

    async def enable_pre_images(self) -> list[str]:
        """Turn on the pre-images of the collections that want them and lack them (their
        names). Idempotent; the collection is created if need be."""
        options = await self._options()
        enabled = []
        for repository in self.repositories:
            name = repository.collection_name
            current = options.get(name, {}).get("changeStreamPreAndPostImages", {})
            if not repository.pre_images or current.get("enabled") is True:
                continue
            setting = {"enabled": True}
            if name not in options:
                await repository.collection.database.create_collection(
                    name, changeStreamPreAndPostImages=setting
                )
            else:
                await repository.collection.database.command(
                    "collMod", name, changeStreamPreAndPostImages=setting
                )
            enabled.append(name)
        return enabled

    async def set_validator(
        self, collection: str, validator: dict[str, Any], level: str = STRICT
    ) -> None:
        """Set a collection's validator (creating the collection if need be)."""
        database = self._collection(collection).database
        try:
            await database.command(
                "collMod", collection, validator=validator, validationLevel=level
            )
        except OperationFailure as exc:
            if exc.code != NAMESPACE_NOT_FOUND:
                raise
            await database.create_collection(collection, validator=validator, validationLevel=level)

    async def create_missing(self) -> dict[str, list[str]]:
        """Start-up: create the declared indexes that are missing, and only those.

        An existing index that matches its declaration is recorded as mongoshop's
        (a database from before the registry adopts its own indexes). Anything else
        (an index to rebuild or to drop, a conflict) is left alone and logged with
        the command that would reconcile it. Returns the declared names present.
        """
        present: dict[str, list[str]] = {}
        for name in await self.enable_pre_images():
            logger.info("pre-images of %s enabled (for the webhook stream)", name)
        for plan in await self.plan():
            if plan.validator is not None and plan.validator_missing:
                await self.set_validator(plan.collection, plan.validator)
                plan.validator = None
            await self._create(plan.collection, plan.create)
            await self.registry.record_owned(plan.collection, [s.name for s in plan.adopt])
            present[plan.collection] = sorted(s.name for s in [*plan.keep, *plan.create])
            if plan.rebuild or plan.drop or plan.conflicts or plan.validator:
                logger.warning(
                    "indexes of %s differ from the declared ones: %s; see `mongoshop db"
                    " indexes`, then run `%s`",
                    plan.collection,
                    "; ".join(
                        line
                        for line in plan.lines()
                        if " keep " not in line and " leave " not in line
                    ),
                    APPLY_COMMAND,
                )
        return present

    async def apply(self, plans: Sequence[CollectionPlan]) -> None:
        """Carry out the plans: rebuild, drop, create; mongoshop's indexes only."""
        for plan in plans:
            collection = self._collection(plan.collection)
            for current, declared in plan.rebuild:
                await collection.drop_index(current.name)
                await collection.create_indexes([declared.model()])
            for spec in plan.drop:
                await collection.drop_index(spec.name)
                await self.registry.forget_owned(plan.collection, [spec.name])
            await self._create(plan.collection, plan.create)
            await self.registry.record_owned(plan.collection, [s.name for s in plan.adopt])
            if plan.validator is not None:
                await self.set_validator(plan.collection, plan.validator)

    async def _create(self, collection: str, specs: Sequence[IndexSpec]) -> None:
        if specs:
            # Recorded first: a crash between the two leaves a name merely planned again.
            await self.registry.record_owned(collection, [spec.name for spec in specs])
            await self._collection(collection).create_indexes([spec.model() for spec in specs])

    def _collection(self, name: str) -> Any:
        for repository in self.repositories:
            if repository.collection_name == name:
                return repository.collection
        raise LookupError(name)
