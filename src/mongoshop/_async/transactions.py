"""Multi-document transactions with PyMongo's `with_transaction`.

`with_transaction` retries the whole callback on TransientTransactionError
(write conflicts, a failover, a dropped connection) and retries the commit on
UnknownTransactionCommitResult. The callback must therefore only write through
the session it is given, and raise to abort: nothing it did is then visible.

Left alone, those retries go on for two minutes, and while the database is
down an HTTP request would hang that long. So the whole transaction runs
under a client-side operation timeout (`pymongo.timeout`), which bounds the
retries too: past it the driver raises a timeout error, answered with 503.
"""

from __future__ import annotations

from typing import TypeVar

import pymongo
from pymongo import WriteConcern
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from mongoshop._async.compat import TransactionCallback
from mongoshop.models.common import Document

T = TypeVar("T")


class AsyncTransactions:
    """Runs callbacks as transactions on one client (the unit of work)."""

    def __init__(self, client: AsyncMongoClient[Document], timeout: float | None = None) -> None:
        """`timeout`: seconds for a whole transaction, retries included (None: the driver's)."""
        self.client = client
        self.timeout = timeout

    async def run(self, callback: TransactionCallback[T]) -> T:
        with pymongo.timeout(self.timeout):
            async with self.client.start_session() as session:
                return await session.with_transaction(
                    callback, write_concern=WriteConcern(w="majority")
                )
