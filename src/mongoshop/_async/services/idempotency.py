"""Run a write at most once per (user, Idempotency-Key), shared by transfers and orders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from mongoshop._async.compat import TransactionCallback
from mongoshop._async.repositories.base import ModelT
from mongoshop._async.repositories.idempotent import AsyncIdempotentRepository
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.errors import IdempotencyKeyReused
from mongoshop.observability.tracing import span


async def run_once(
    transactions: AsyncTransactions,
    repository: AsyncIdempotentRepository[ModelT],
    *,
    user_id: ObjectId,
    key: str | None,
    request_hash: str,
    what: str,
    body: TransactionCallback[ModelT],
    keys: Iterable[str] = (),
    batch: str | None = None,
) -> tuple[ModelT, bool]:
    """`body` in a transaction, unless this key was used before; (result, was it a replay).

    The earlier result is looked up before the transaction (a retry of a
    committed request costs one read, and takes no turn on hot documents).
    When two requests with one key race past that, the unique index lets one
    commit; the other answers with that one's result. The same key with a
    different request (another fingerprint) is `IdempotencyKeyReused`.
    `keys`: the documents the body writes that others write too, `batch` the hot one
    whose writers may share a transaction (see `AsyncTransactions.run`).
    """

    def replay(previous: Any) -> ModelT:
        with span("idempotency.replay", attributes={"mongoshop.what": what}) as replaying:
            if previous.request_hash != request_hash:
                replaying.set_attribute("mongoshop.idempotency.reused", True)
                raise IdempotencyKeyReused(
                    f"this Idempotency-Key was already used for a different {what}"
                )
            result: ModelT = previous
            return result

    if key is not None:
        previous = await repository.find_by_key(user_id, key)
        if previous is not None:
            return replay(previous), True
    try:
        return await transactions.run(body, keys=keys, batch=batch), False
    except DuplicateKeyError:
        if key is None:
            raise
        previous = await repository.find_by_key(user_id, key)
        if previous is None:
            raise
        return replay(previous), True
