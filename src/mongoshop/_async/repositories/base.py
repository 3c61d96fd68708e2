"""The generic repository: the plain CRUD the guide lists, typed by model.

Typed repositories add the queries their use cases need; every query they
run is backed by one of their declared `indexes`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from mongoshop.deferral import held_for
from mongoshop.errors import MongoshopError, NotFound
from mongoshop.models.common import Document, parse_object_id
from mongoshop.validation import collector_paused, describe_errors

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
Sort = Sequence[tuple[str, int]]

DUPLICATE_KEY = 11000
NO_SUCH_ID = ObjectId("000000000000000000000000")
"""An `_id` no document has (ids are minted with a time): what the write probe updates."""

NEWEST_FIRST: Sort = [("created_at", DESCENDING), ("_id", DESCENDING)]
"""The listings' order: newest first, `_id` breaking ties so that every order is total
(a page boundary never splits or repeats documents created in the same millisecond)."""

RECENT_WINDOWS = (
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
    timedelta(days=30),
    timedelta(days=365),
    None,
)
"""How far back the newest documents of a broad listing are looked for, widening until
a page is full.

Without a filter, "the newest N" is a sort of the whole collection on a server
that does not bound a sort by its limit (the embedded one): the cost of every
document ever written. A range on `created_at` costs what it holds, and a busy shop
fills a page from its last hour; only a quiet one widens the
window, and then there are few to read in it. `None`: no bound, the last resort."""

# No query here carries an index hint. MongoDB's planner picks the index these
# shapes need on its own, and on the embedded server a hint is what makes a point
# query walk the whole collection (``hint="_id_"`` cost 95 ms at 10,000 documents
# where the same query without it costs 0.4 ms). Cost is measured by time, at two
# sizes: `tests/integration/test_growth_guard.py`.


@cache
def _list_adapter(model: type[ModelT]) -> TypeAdapter[list[ModelT]]:
    """One validator for a whole batch: cheaper per document than a call per document."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


class AsyncRepository(Generic[ModelT]):
    """CRUD over one collection, mapping documents to `model` at the boundary."""

    collection_name: ClassVar[str]
    model: type[ModelT]
    indexes: ClassVar[Sequence[IndexModel]] = ()
    pre_images: ClassVar[bool] = False
    """Whether the server records each document's state before a change, for the change
    streams that need it (``changeStreamPreAndPostImages``: MongoDB 6.0+)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = database[self.collection_name]

    async def ensure_indexes(self) -> list[str]:
        """Create the declared indexes; a no-op for those that already exist."""
        if not self.indexes:
            return []
        return await self.collection.create_indexes(list(self.indexes))

    def key(self, id: object) -> str:
        """The name a transaction gives this collection's document `id` when it waits for
        its turn to write it (`AsyncTransactions.run`'s `keys`)."""
        return f"{self.collection_name}:{id}"

    def to_model(self, document: Mapping[str, Any]) -> ModelT:
        return self.model.model_validate(document)

    def to_models(self, documents: Sequence[Mapping[str, Any]]) -> list[ModelT]:
        """Validate a batch in one call, the cycle collector paused (see `mongoshop.validation`).

        A document that does not load (written by another tool, or by an old version
        with other rules) is left out of the batch and logged by id, rather than
        failing the whole listing: one bad document must not take a page down.
        """
        with collector_paused():
            try:
                return _list_adapter(self.model).validate_python(documents)
            except ValidationError:
                return [model for model in map(self._loadable, documents) if model is not None]

    def _loadable(self, document: Mapping[str, Any]) -> ModelT | None:
        try:
            return self.model.model_validate(document)
        except ValidationError as exc:
            logger.warning(
                "%s %s does not load and is left out: %s",
                self.collection_name,
                document.get("_id"),
                describe_errors(exc.errors()),
            )
            return None

    async def find_by_id(
        self, id: ObjectId | str, *, session: AsyncClientSession | None = None
    ) -> ModelT | None:
        """The document with this id, or None; a malformed id is `InvalidId`."""
        return await self.find_one({"_id": parse_object_id(id)}, session=session)

    async def find_by_ids(self, ids: Sequence[Any]) -> dict[Any, ModelT]:
        """The documents with these ids, by id, in one read (``_id`` ``$in``: bounded by
        the ids, on the embedded server as on MongoDB); missing ones are left out."""
        if not ids:
            return {}
        documents = await self.find_documents({"_id": {"$in": list(dict.fromkeys(ids))}}, limit=0)
        loaded = ((document["_id"], self._loadable(document)) for document in documents)
        return {id: model for id, model in loaded if model is not None}

    async def get(self, id: ObjectId | str, *, session: AsyncClientSession | None = None) -> ModelT:
        """Like `find_by_id`, but a missing document is `NotFound`."""
        found = await self.find_by_id(id, session=session)
        if found is None:
            raise NotFound(f"{self.model.__name__.removesuffix('InDB').lower()} {id} not found")
        return found

    async def find_one(
        self,
        filter: Mapping[str, Any],
        *,
        session: AsyncClientSession | None = None,
    ) -> ModelT | None:
        document = await self.collection.find_one(filter, session=session)
        return None if document is None else self.to_model(document)

    async def find_many(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 100,
        session: AsyncClientSession | None = None,
    ) -> list[ModelT]:
        """Matching documents as models, at most `limit` of them."""
        documents = await self.find_documents(
            filter, sort=sort, skip=skip, limit=limit, session=session
        )
        return self.to_models(documents)

    async def find_documents(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        projection: Mapping[str, Any] | None = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 100,
        session: AsyncClientSession | None = None,
    ) -> list[Document]:
        """Raw documents, optionally projected: for reads that need only a few fields."""
        cursor = self.collection.find(filter or {}, projection, session=session)
        if sort:
            cursor = cursor.sort(list(sort))
        cursor = cursor.skip(skip).limit(limit)
        return await cursor.to_list()

    async def page(
        self,
        filters: Sequence[Mapping[str, Any]],
        sort: Sort,
        *,
        skip: int,
        limit: int,
    ) -> tuple[list[ModelT], int]:
        """One page of the documents matching every filter, sorted, and their total.

        One aggregate, one round trip: each filter is a ``$match`` in the given
        order, so the first one (an indexed equality where the query has one, see
        `mongoshop.search.split_all`) decides what is read; the page and the count
        are two branches of one ``$facet`` over the sorted matches. Both cost the
        number of matches: a broad listing needs a cache above it (the services'
        `mongoshop.cache.Listings`).
        """
        pipeline: list[Document] = [{"$match": dict(f)} for f in filters if f] or [{"$match": {}}]
        items: list[Document] = [{"$skip": skip}] if skip else []
        items.append({"$limit": limit})
        pipeline += [
            {"$sort": dict(sort)},
            {"$facet": {"items": items, "total": [{"$count": "n"}]}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        result = (await cursor.to_list())[0]
        total = result["total"][0]["n"] if result["total"] else 0
        return self.to_models(result["items"]), total

    async def cursor_time(self, filter: Mapping[str, Any], after: ObjectId, what: str) -> Any:
        """When the document `after` was created: where a keyset page starts (`newest_before`).

        The cursor is the last id a client saw (as Stripe's ``starting_after``).
        It must match `filter`: one cannot page through someone else's list from
        one's own id; else this is a NotFound about `what`.
        """
        anchor = await self.find_documents(
            {**filter, "_id": after}, projection={"created_at": 1}, limit=1
        )
        if not anchor:
            raise NotFound(f"{what} {after} not found: `after` must be an id from this list")
        return anchor[0]["created_at"]

    async def newest_before(
        self,
        filter: Mapping[str, Any],
        at: Any,
        after: ObjectId | str,
        *,
        limit: int,
        since: Any = None,
    ) -> list[ModelT]:
        """The page after (`at`, `after`) in `NEWEST_FIRST` order: keyset pagination.

        A page that starts after a known document costs the page, however deep
        it is, where ``skip`` reads and drops every document before it. Two
        range reads of the `created_at` index, not one ``$or``: the documents
        created in the same instant as the cursor (older `_id`s first), then
        the older ones, from `since` on when given. The ``$or`` that says the
        same in one query is planned as a collection scan by the embedded
        server (290 ms for a ledger page at 20,000 entries, against 2 ms).
        """
        page = await self.find_many(
            {**filter, "created_at": at, "_id": {"$lt": after}}, sort=NEWEST_FIRST, limit=limit
        )
        if len(page) == limit:
            return page
        older: Document = {"$lt": at} if since is None else {"$lt": at, "$gte": since}
        return page + await self.find_many(
            {**filter, "created_at": older}, sort=NEWEST_FIRST, limit=limit - len(page)
        )

    async def find_in_order(self, ids: Sequence[ObjectId]) -> list[ModelT]:
        """The documents with these ids, in the order of `ids`; missing ones are left out.

        One ``$in`` on ``_id``: the cost of the ids asked for, at any collection size.
        """
        if not ids:
            return []
        documents = await self.find_documents({"_id": {"$in": list(ids)}}, limit=len(ids))
        by_id = {document["_id"]: document for document in documents}
        return self.to_models([by_id[id] for id in ids if id in by_id])

    async def iterate_documents(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        projection: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[Document]:
        """Stream raw documents, `batch_size` per round trip: memory stays bounded."""
        cursor = self.collection.find(filter or {}, projection, batch_size=batch_size)
        async for document in cursor:
            yield document

    async def iterate(
        self, filter: Mapping[str, Any] | None = None, *, batch_size: int = 1000
    ) -> AsyncIterator[ModelT]:
        """Stream models, `batch_size` per round trip; a document that does not load is
        logged and left out (see `to_models`)."""
        async for document in self.iterate_documents(filter, batch_size=batch_size):
            model = self._loadable(document)
            if model is not None:
                yield model

    async def storage_stats(self) -> Document:
        """Count and sizes from ``$collStats`` (the supported form since MongoDB 6.2)."""
        cursor = await self.collection.aggregate([{"$collStats": {"storageStats": {}}}])
        rows = await cursor.to_list()
        return dict(rows[0].get("storageStats", {})) if rows else {}

    async def create(
        self, document: Mapping[str, Any], *, session: AsyncClientSession | None = None
    ) -> ObjectId:
        """Insert one document; its new id. In a batch's transaction the insert is held
        and sent with the batch's others (`mongoshop.deferral`)."""
        held = held_for(session)
        if held is not None:
            stored = {"_id": ObjectId(), **document}
            held.add(self.collection, stored)
            made: ObjectId = stored["_id"]
            return made
        result = await self.collection.insert_one(dict(document), session=session)
        inserted: ObjectId = result.inserted_id
        return inserted

    async def create_many(
        self, documents: Sequence[Mapping[str, Any]], *, session: AsyncClientSession | None = None
    ) -> None:
        """Insert documents in order, all or (in the caller's transaction) none."""
        if documents:
            await self.collection.insert_many([dict(d) for d in documents], session=session)

    async def insert_many_new(
        self, documents: Sequence[Mapping[str, Any]], *, session: AsyncClientSession | None = None
    ) -> tuple[int, int]:
        """Insert a batch with one unordered bulk write; duplicates are skipped, not fatal.

        Returns (inserted, duplicates). Any other write error propagates.
        """
        if not documents:
            return 0, 0
        try:
            result = await self.collection.insert_many(
                [dict(document) for document in documents], ordered=False, session=session
            )
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return exc.details.get("nInserted", 0), len(errors)
        return len(result.inserted_ids), 0

    async def update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        session: AsyncClientSession | None = None,
    ) -> int:
        """Apply `update` to the first match; how many documents matched (0 or 1)."""
        result = await self.collection.update_one(filter, update, session=session)
        return result.matched_count

    async def update_and_get(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        session: AsyncClientSession | None = None,
    ) -> ModelT | None:
        """Apply a guarded update to the document `filter` pins by ``_id``; the document after it.

        None when the guard (or the id) matched nothing. This is
        ``find_one_and_update(..., return_document=AFTER)`` as two point
        operations: an ``update_one`` and a read by ``_id``, in the caller's
        session, so inside a transaction the read sees the transaction's own
        write. ``findAndModify`` costs a pass over the whole collection on the
        embedded server, whatever its filter; these two cost the same at any size
        on both servers. Outside a transaction, another writer may change the
        document between the two: the caller gets a state at least as new as
        its own write.
        """
        result = await self.collection.update_one(filter, update, session=session)
        if result.matched_count == 0:
            return None
        return await self.find_one({"_id": filter["_id"]}, session=session)

    async def guarded_update(
        self,
        identity: Mapping[str, Any],
        guard: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        refused: MongoshopError,
        missing: MongoshopError,
        session: AsyncClientSession | None = None,
    ) -> ModelT:
        """Update the document `identity` names (by ``_id``, and whatever else must match)
        only while `guard` holds; the document after it.

        The guard is in the update's filter, so it holds at the moment the
        write applies, whatever runs concurrently. When nothing matched, one
        more point read tells why: the document is there (the guard said no:
        `refused`) or it is not (`missing`).
        """
        document = await self.update_and_get({**identity, **guard}, update, session=session)
        if document is not None:
            return document
        await self._refusal(identity, refused, missing, session)
        raise AssertionError("unreachable: _refusal raises")

    async def guarded_change(
        self,
        identity: Mapping[str, Any],
        guard: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        refused: MongoshopError,
        missing: MongoshopError,
        session: AsyncClientSession | None = None,
    ) -> None:
        """`guarded_update` for a caller that does not need the document after it: one
        round trip when the guard holds (inside a transaction that takes turns on a hot
        document, every round trip saved is time the next writer does not wait)."""
        if await self.update({**identity, **guard}, update, session=session) == 0:
            await self._refusal(identity, refused, missing, session)

    async def _refusal(
        self,
        identity: Mapping[str, Any],
        refused: MongoshopError,
        missing: MongoshopError,
        session: AsyncClientSession | None,
    ) -> None:
        if await self.exists(identity, session=session):
            raise refused
        raise missing

    async def update_by_id(
        self,
        id: ObjectId | str,
        update: Mapping[str, Any],
        *,
        session: AsyncClientSession | None = None,
    ) -> int:
        return await self.update({"_id": parse_object_id(id)}, update, session=session)

    async def delete(
        self, filter: Mapping[str, Any], *, session: AsyncClientSession | None = None
    ) -> int:
        """Delete the first match; how many were deleted (0 or 1)."""
        result = await self.collection.delete_one(filter, session=session)
        return result.deleted_count

    async def delete_by_id(
        self, id: ObjectId | str, *, session: AsyncClientSession | None = None
    ) -> int:
        return await self.delete({"_id": parse_object_id(id)}, session=session)

    async def count(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        session: AsyncClientSession | None = None,
    ) -> int:
        """How many documents match; with no filter, the collection's own count.

        ``count_documents({})`` reads every document (an aggregate with an empty
        ``$match``), so with no filter and outside a transaction the count kept
        in the collection's metadata answers instead, at once on MongoDB (which
        may have it off after an unclean shutdown until it corrects it: fine for
        a page total or a dashboard figure, which is all it serves). The embedded
        server answers it with a pass over the collection (125 ms at 20,000
        documents): the totals that use it grow with their collection there.
        """
        if not filter and session is None:
            return await self.collection.estimated_document_count()
        return await self.collection.count_documents(filter or {}, session=session)

    async def probe_write(self) -> None:
        """A write that changes nothing, through this collection's write path (its locks,
        a storage transaction): an update by an ``_id`` no document has. Whether it
        completes in time is how a stalled collection is noticed (`WriteWatch`); it
        costs the same at any size."""
        await self.collection.update_one({"_id": NO_SUCH_ID}, {"$set": {"probed": True}})

    async def exists(
        self, filter: Mapping[str, Any], *, session: AsyncClientSession | None = None
    ) -> bool:
        found = await self.collection.find_one(filter, {"_id": 1}, session=session)
        return found is not None
