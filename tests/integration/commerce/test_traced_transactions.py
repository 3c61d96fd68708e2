"""The spans of a transaction, its retries and an idempotent replay, on the real server
(tracing on for the test only: `tests.traces`), and the trace context stored with what
the request wrote."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mongoshop._async.shop import AsyncShop
from mongoshop.models.wallet import TransferRequest
from mongoshop.observability import tracing
from tests.integration.commerce.test_faults import TRANSIENT_COMMIT
from tests.integration.helpers import Customers, Faulty, assert_fired
from tests.traces import named, spans

__all__ = ["spans"]  # the fixture


async def test_each_attempt_of_a_transaction_is_a_span_and_a_retry_says_so(
    ashop: AsyncShop, faulty: Faulty, customers: Customers, spans: InMemorySpanExporter
) -> None:
    alice, bob = await customers.create(2)
    request = TransferRequest(
        to_account_id=str(bob.account_id), amount=700, currency=ashop.settings.currency
    )
    with tracing.span("request") as outer:
        async with faulty.failing_once(**TRANSIENT_COMMIT):
            transfer, _ = await faulty.shop.wallet.transfer(alice.user, request)
    assert_fired(faulty.log, TRANSIENT_COMMIT)

    def children(parent: int, name: str) -> list[ReadableSpan]:
        found = [s for s in named(spans, name) if s.parent and s.parent.span_id == parent]
        return sorted(found, key=lambda s: s.start_time or 0)

    [transaction] = children(outer.get_span_context().span_id, "transaction")
    first, second = children(transaction.context.span_id, "transaction.attempt")
    assert dict(first.attributes or {}) == {
        "mongoshop.attempt": 1,
        "mongoshop.transaction.retried": True,
    }
    assert dict(second.attributes or {}) == {"mongoshop.attempt": 2}

    # What the request wrote carries its trace: the credit's ledger entry (a webhook's
    # `wallet.credited` continues it).
    legs = await ashop.repositories.ledger.collection.find({"reference_id": transfer.id}).to_list()
    trace_id = format(outer.get_span_context().trace_id, "032x")
    assert {leg["trace"]["traceparent"].split("-")[1] for leg in legs} == {trace_id}


async def test_a_replayed_request_is_a_span_and_a_reused_key_is_marked(
    ashop: AsyncShop, customers: Customers, spans: InMemorySpanExporter
) -> None:
    alice, bob = await customers.create(2)
    request = TransferRequest(
        to_account_id=str(bob.account_id), amount=300, currency=ashop.settings.currency
    )
    await ashop.wallet.transfer(alice.user, request, idempotency_key="trace-key")
    assert named(spans, "idempotency.replay") == []
    _, replayed = await ashop.wallet.transfer(alice.user, request, idempotency_key="trace-key")
    assert replayed
    [replay] = named(spans, "idempotency.replay")
    assert replay.attributes == {"mongoshop.what": "transfer"}


async def test_untraced_nothing_is_stored(ashop: AsyncShop, customers: Customers) -> None:
    alice, bob = await customers.create(2)
    request = TransferRequest(
        to_account_id=str(bob.account_id), amount=100, currency=ashop.settings.currency
    )
    transfer, _ = await ashop.wallet.transfer(alice.user, request)
    legs = await ashop.repositories.ledger.collection.find({"reference_id": transfer.id}).to_list()
    assert legs
    assert all("trace" not in leg for leg in legs)
