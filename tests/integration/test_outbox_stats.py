"""The outbox at a glance: e-mails by status, and how long the oldest pending one waited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId

from mongoshop._async.services.mail import AsyncMailService
from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.cache import Listings
from mongoshop.clock import utcnow
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus
from mongoshop.models.orders import OrderInDB
from tests.integration.conftest import CommandRecorder
from tests.integration.helpers import user_document
from tests.plans import assert_index_scan


def mail(n: int, status: MailStatus, *, age: timedelta = timedelta(0)) -> Document:
    """A welcome e-mail in `status`, enqueued `age` ago."""
    email = f"reader{n}@example.com"
    document = outbox_document(
        MailKind.WELCOME, ObjectId(), email, None, {"name": "Reader", "email": email}
    )
    document["status"] = status.value
    document["created_at"] = document["available_at"] = utcnow() - age
    return document


async def test_an_empty_outbox_has_nothing_pending(ashop: AsyncShop) -> None:
    stats = await ashop.mail.outbox_stats()

    assert (stats.pending, stats.sent, stats.failed) == (0, 0, 0)
    assert stats.oldest_pending_at is None
    assert stats.oldest_pending_age_seconds is None
    assert abs((utcnow() - stats.as_of).total_seconds()) < 5


async def test_counts_by_status_and_the_age_of_the_oldest_pending(ashop: AsyncShop) -> None:
    documents = [
        mail(0, MailStatus.PENDING, age=timedelta(minutes=5)),
        mail(1, MailStatus.PENDING, age=timedelta(hours=2)),
        mail(2, MailStatus.PENDING, age=timedelta(seconds=1)),
        # Older than every pending one, but sent or failed: not waiting any more.
        mail(3, MailStatus.SENT, age=timedelta(days=3)),
        mail(4, MailStatus.SENT, age=timedelta(days=2)),
        mail(5, MailStatus.FAILED, age=timedelta(days=1)),
    ]
    await ashop.repositories.outbox.enqueue_many(documents)

    stats = await ashop.mail.outbox_stats()

    assert (stats.pending, stats.sent, stats.failed) == (3, 2, 1)
    assert stats.oldest_pending_at == documents[1]["created_at"]
    assert stats.oldest_pending_age_seconds is not None
    assert 2 * 3600 <= stats.oldest_pending_age_seconds < 2 * 3600 + 60
    expected = int((stats.as_of - documents[1]["created_at"]).total_seconds())
    assert stats.oldest_pending_age_seconds == expected


async def test_the_oldest_pending_moves_on_when_it_is_sent(ashop: AsyncShop) -> None:
    old = mail(0, MailStatus.PENDING, age=timedelta(hours=1))
    young = mail(1, MailStatus.PENDING, age=timedelta(minutes=1))
    await ashop.repositories.outbox.enqueue_many([old, young])

    # Within a window of the line, claims take any order: both, then the old one sent.
    outbox = ashop.repositories.outbox
    claimed = await outbox.claim_some("sender", utcnow(), timedelta(minutes=1), 2)
    assert sorted(item.key for item in claimed) == sorted([old["_id"], young["_id"]])
    assert await outbox.mark_sent(old["_id"], "sender", utcnow())
    assert await outbox.release(young["_id"], "sender", 0)

    stats = await ashop.mail.outbox_stats()
    assert (stats.pending, stats.sent) == (1, 1)
    assert stats.oldest_pending_at == young["created_at"]


async def test_the_outbox_figures_read_the_status_index(
    traced_shop: AsyncShop, recorder: CommandRecorder, explain: Any
) -> None:
    statuses = [MailStatus.SENT] * 8 + [MailStatus.FAILED] + [MailStatus.PENDING]
    await traced_shop.repositories.outbox.enqueue_many(
        [mail(n, statuses[n % 10], age=timedelta(minutes=n)) for n in range(100)]
    )
    recorder.clear()

    stats = await traced_shop.mail.outbox_stats()

    assert (stats.pending, stats.sent, stats.failed) == (10, 80, 10)
    # Pending and failed are counted through the index; sent, which only grows, is the
    # collection's own count less those two (no read of every sent e-mail).
    counts = [c for c in recorder.commands if next(iter(c)) == "aggregate"]
    assert len(counts) == 2
    assert not any(command.get("query") for command in recorder.commands if "count" in command)
    for command in counts:
        assert_index_scan(await explain(command), "status_available")
    assert_index_scan(await explain(recorder.last("find", "mail_outbox")), "status_available")


def test_the_sync_face_reports_the_outbox_too(shop: Shop) -> None:
    shop.repositories.outbox.enqueue_many(
        [mail(0, MailStatus.PENDING, age=timedelta(minutes=3)), mail(1, MailStatus.FAILED)]
    )

    stats = shop.mail.outbox_stats()

    assert (stats.pending, stats.sent, stats.failed) == (1, 0, 1)
    assert stats.oldest_pending_age_seconds is not None
    assert stats.oldest_pending_age_seconds >= 180


async def test_with_a_size_cache_a_status_change_still_shows_at_once(ashop: AsyncShop) -> None:
    """The outbox's size is cached (the API's change stream drops it on inserts and
    deletes); sending an e-mail moves no size, and is counted at once all the same."""
    totals = Listings(ttl=60, fields=frozenset())
    service = AsyncMailService(
        ashop.repositories.outbox,
        ashop.repositories.users,
        ashop.repositories.orders,
        totals=totals,
    )
    documents = [mail(n, MailStatus.PENDING) for n in range(3)]
    await ashop.repositories.outbox.enqueue_many(documents)
    assert (await service.counts()).pending == 3
    assert totals.get("outbox") == ([], 3)

    await ashop.repositories.outbox.collection.update_one(
        {"_id": documents[0]["_id"]}, {"$set": {"status": MailStatus.SENT.value}}
    )

    counts = await service.counts()
    assert (counts.pending, counts.sent, counts.failed) == (2, 1, 0)
    # An insert is what the stream evicts for; until then the cached size answers.
    await ashop.repositories.outbox.enqueue_many([mail(9, MailStatus.PENDING)])
    totals.clear()
    assert (await service.counts()).pending == 3
    assert totals.get("outbox") == ([], 4)


async def test_order_confirmations_read_their_buyers_at_once_and_skip_a_gone_one(
    ashop: AsyncShop,
) -> None:
    """A batch of new orders is confirmed in one read of its buyers; an order whose buyer
    was deleted meanwhile gets no e-mail, and the others still do."""
    buyers = [
        await ashop.repositories.users.create(user_document(f"Buyer {n}", f"buyer{n}@example.com"))
        for n in range(2)
    ]
    total = {"amount": 1250, "currency": "EUR"}
    item = {"name": "Mug", "quantity": 2, "unit_price": 625}
    orders = [
        OrderInDB.model_validate(
            {
                "_id": ObjectId(),
                "user_id": user_id,
                "account_id": ObjectId(),
                "status": "completed",
                "total": total,
                "items": [{**item, "product_id": ObjectId()}],
                "created_at": utcnow(),
            }
        )
        for user_id in [*buyers, ObjectId()]
    ]
    assert await ashop.mail.confirm_orders(orders) == 2
    confirmations = await ashop.repositories.outbox.collection.find(
        {"kind": MailKind.ORDER_CONFIRMATION.value}
    ).to_list(None)
    sent_to = sorted(item["to"] for item in confirmations)
    assert sent_to == ["buyer0@example.com", "buyer1@example.com"]
