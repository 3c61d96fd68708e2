"""The line both queues share: order, once each, holes, retries, leases, stragglers, redrive.

Through the mail outbox (the webhook deliveries' own rule, per-object order, is
in tests/integration/webhooks); the claim's flat cost is in test_claim_cost.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from bson import ObjectId

from mongoshop._async.repositories.line import LINE_WINDOW
from mongoshop._async.repositories.outbox import AsyncOutboxRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import SCRUBBED, MailKind, MailStatus

LEASE = timedelta(seconds=60)


def mail(n: int) -> Document:
    email = f"reader{n}@example.com"
    return outbox_document(
        MailKind.WELCOME, ObjectId(), email, None, {"name": "Reader", "email": email}
    )


def outbox_of(ashop: AsyncShop) -> AsyncOutboxRepository:
    return ashop.repositories.outbox


async def claim_all(outbox: AsyncOutboxRepository, owner: str = "sender") -> list[str]:
    keys = []
    while (item := await outbox.claim(owner, utcnow(), LEASE)) is not None:
        keys.append(item.key)
    return keys


async def test_items_are_claimed_window_by_window_in_the_order_they_came_each_once(
    ashop: AsyncShop,
) -> None:
    """Within a window, claimers try the items in an order of their own (racing senders
    then mostly take different ones); a later window only once the earlier ones are done."""
    outbox = outbox_of(ashop)
    documents = [mail(n) for n in range(150)]  # more than two windows
    for document in documents[:10]:
        await outbox.enqueue(dict(document))
    await outbox.enqueue_many(documents[10:])
    arrival = {document["_id"]: n for n, document in enumerate(documents)}

    claimed = await claim_all(outbox)

    assert sorted(claimed, key=arrival.__getitem__) == [d["_id"] for d in documents]
    windows = [arrival[key] // LINE_WINDOW for key in claimed]
    assert windows == sorted(windows)


async def test_the_head_walks_past_places_whose_items_were_never_inserted(
    ashop: AsyncShop,
) -> None:
    """An event seen again enqueues a duplicate: its place stays empty. Three windows of
    them, then a new item: the claim still finds it."""
    outbox = outbox_of(ashop)
    first = mail(0)
    await outbox.enqueue(dict(first))
    assert await claim_all(outbox) == [first["_id"]]
    for _ in range(3):
        assert await outbox.enqueue_many([dict(first)] * LINE_WINDOW) == 0
    new = mail(1)
    await outbox.enqueue(dict(new))

    assert await claim_all(outbox) == [new["_id"]]


async def test_a_retry_waits_out_of_the_line_until_its_back_off_is_over(ashop: AsyncShop) -> None:
    outbox = outbox_of(ashop)
    document = mail(0)
    await outbox.enqueue(dict(document))
    item = await outbox.claim("sender", utcnow(), LEASE)
    assert item is not None
    retry_at = utcnow() + timedelta(minutes=5)
    assert await outbox.mark_failed_attempt(item.key, "sender", "SMTP down", retry_at)

    assert await outbox.sweep(utcnow()) == 0
    assert await claim_all(outbox) == []
    assert await outbox.sweep(retry_at + timedelta(seconds=1)) == 1
    again = await outbox.claim("sender", utcnow(), LEASE)
    assert again is not None
    assert (again.key, again.attempts) == (document["_id"], 2)


async def test_an_item_whose_sender_died_is_claimed_again_when_its_lease_ends(
    ashop: AsyncShop,
) -> None:
    outbox = outbox_of(ashop)
    await outbox.enqueue(mail(0))
    taken = await outbox.claim("dead-sender", utcnow(), LEASE)
    assert taken is not None

    assert await outbox.sweep(utcnow()) == 0  # the lease runs
    assert await outbox.sweep(utcnow() + LEASE + timedelta(seconds=1)) == 1
    again = await outbox.claim("live-sender", utcnow(), LEASE)
    assert again is not None
    assert (again.key, again.attempts, again.claimed_by) == (taken.key, 2, "live-sender")
    assert not await outbox.mark_sent(taken.key, "dead-sender", utcnow()), "its lease is over"


async def test_an_item_inserted_after_the_head_passed_its_place_is_swept_back(
    ashop: AsyncShop,
) -> None:
    """A slow insert: its place is taken, then a whole window of later items is enqueued
    and claimed (the head moves on), and only then does it land."""
    outbox = outbox_of(ashop)
    slow = mail(0)
    await outbox.line.place([slow])
    later = [mail(n) for n in range(1, LINE_WINDOW + 2)]
    await outbox.enqueue_many(later)
    assert sorted(await claim_all(outbox)) == sorted(document["_id"] for document in later)
    await outbox.collection.insert_one(slow)
    assert await claim_all(outbox) == [], "below the head: no claim reads there"

    assert await outbox.sweep(utcnow()) == 1
    assert await claim_all(outbox) == [slow["_id"]]


async def test_racing_senders_claim_every_item_exactly_once(ashop: AsyncShop) -> None:
    outbox = outbox_of(ashop)
    documents = [mail(n) for n in range(240)]
    await outbox.enqueue_many(documents)

    claimed = await asyncio.gather(*(claim_all(outbox, f"sender-{n}") for n in range(8)))

    keys = [key for keys in claimed for key in keys]
    assert sorted(keys) == sorted(document["_id"] for document in documents)
    assert sum(1 for keys in claimed if keys) > 1, "the senders shared the work"


async def test_a_failed_email_is_redriven_unless_its_secret_was_scrubbed(
    ashop: AsyncShop,
) -> None:
    outbox = outbox_of(ashop)
    whole, scrubbed = mail(0), mail(1)
    await outbox.enqueue_many([whole, scrubbed])
    for item in await outbox.claim_some("sender", utcnow(), LEASE, 2):
        scrub = item.key == scrubbed["_id"]
        assert await outbox.mark_failed_attempt(item.key, "sender", "gone", None, scrub=scrub)

    assert await outbox.redrive_failed() == 1
    assert not await outbox.redrive(scrubbed["_id"])
    again = await outbox.claim("sender", utcnow(), LEASE)
    assert again is not None
    assert (again.key, again.status, again.attempts) == (whole["_id"], MailStatus.PENDING, 1)
    assert await claim_all(outbox) == []
    kept = await outbox.find_one({"_id": scrubbed["_id"]})
    assert kept is not None
    assert (kept.status, kept.text) == (MailStatus.FAILED, SCRUBBED)
    assert not await outbox.redrive(whole["_id"]), "pending now: nothing to redrive"


async def test_a_claimed_email_given_back_is_in_line_again_its_attempt_not_counted(
    ashop: AsyncShop,
) -> None:
    outbox = outbox_of(ashop)
    await outbox.enqueue(mail(0))
    [first, *rest] = await outbox.claim_some("sender", utcnow(), LEASE, 5)
    assert rest == []
    assert first.attempts == 1

    assert not await outbox.release(first.key, "someone-else", 0), "not theirs to give back"
    assert await outbox.release(first.key, "sender", 0)
    again = await outbox.claim("other", utcnow(), LEASE)
    assert again is not None
    assert (again.key, again.attempts) == (first.key, 1)


async def test_an_item_that_breaks_the_rules_is_set_aside_and_the_line_goes_on(
    ashop: AsyncShop, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 21: an item written past the collection's validator (an unknown kind, as
    another tool or an older version could) refuses every write: left in line, it
    would refuse every claim of its window and stop the line for good. It is set aside,
    whole, and the rest of its batch is claimed as usual."""
    outbox = outbox_of(ashop)
    bad = {**mail(0), "kind": "carrier_pigeon"}
    await outbox.line.place([bad])
    await outbox.collection.insert_one(bad, bypass_document_validation=True)
    await outbox.enqueue_many([mail(1), mail(2)])
    claimed = await outbox.claim_some("sender", utcnow(), LEASE, 8)
    assert sorted(item.to for item in claimed) == ["reader1@example.com", "reader2@example.com"]
    assert await outbox.collection.find_one({"_id": bad["_id"]}) is None
    aside = await ashop.database["queue_set_aside"].find_one({"_id": f"mail:{bad['_id']}"})
    assert aside is not None
    assert aside["document"]["kind"] == "carrier_pigeon"
    assert "carrier_pigeon" in aside["why"]
    assert "breaks its collection's rules and is set aside" in caplog.text
    await outbox.enqueue_many([mail(3)])
    [later] = await outbox.claim_some("sender", utcnow(), LEASE, 8)
    assert later.to == "reader3@example.com"


async def test_an_item_the_model_cannot_load_is_given_up_on_once(ashop: AsyncShop) -> None:
    """One the server accepts but the code cannot read (here a text field holding a
    number, with validation off as during a migration) is given up on (failed, with
    why), not claimed again after every lease."""
    outbox = outbox_of(ashop)
    await ashop.database.command("collMod", "mail_outbox", validationLevel="off")
    bad = {**mail(0), "subject": {"not": "text"}}
    await outbox.enqueue_many([bad, mail(1)])
    claimed = await outbox.claim_some("sender", utcnow(), LEASE, 8)
    assert [item.to for item in claimed] == ["reader1@example.com"]
    given_up = await outbox.collection.find_one({"_id": bad["_id"]})
    assert given_up is not None
    assert given_up["status"] == MailStatus.FAILED.value
    assert given_up["claimed_by"] is None
    assert "does not load" in given_up["last_error"]
    assert "due_at" not in given_up, "not swept back in line"
