"""Multi-document transactions with PyMongo's `with_transaction`.

`with_transaction` retries the whole callback on TransientTransactionError
(write conflicts, a failover, a dropped connection) and retries the commit on
UnknownTransactionCommitResult, for up to two minutes. The callback must
therefore only write through the session it is given, and raise to abort:
nothing it did is then visible.
"""

from __future__ import annotations

from typing import TypeVar

from pymongo import WriteConcern
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from mongoshop._async.compat import TransactionCallback
from mongoshop.models.common import Document

T = TypeVar("T")


class AsyncTransactions:
    """Runs callbacks as transactions on one client (the unit of work)."""

    def __init__(self, client: AsyncMongoClient[Document]) -> None:
        self.client = client

    async def run(self, callback: TransactionCallback[T]) -> T:
        async with self.client.start_session() as session:
            return await session.with_transaction(
                callback, write_concern=WriteConcern(w="majority")
            )
