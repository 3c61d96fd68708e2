"""The worker's promises: every event handled, every e-mail sent once, across failures.

The worker runs as a real `mongoshop worker` process; mail goes to a real SMTP
server (aiosmtpd) in this test process.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pymongo import MongoClient

from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.errors import InvalidVerificationToken
from mongoshop.models.common import Document
from mongoshop.models.users import UserCreate
from mongoshop.settings import Settings
from mongoshop.worker.event_streams import ORDERS_STREAM, USERS_STREAM

from .conftest import SmtpServer, WorkerProcess, outbox_status, wait_for, worker_env


def register(shop: Shop, prefix: str, start: int, count: int) -> list[str]:
    emails = []
    for index in range(start, start + count):
        email = f"{prefix}.{index}@example.com"
        # Confirmed accounts (made on the users' behalf): welcomed on their insert.
        shop.users.register(
            UserCreate(name=f"User {index}", email=email, password="password1"), verified=True
        )
        emails.append(email)
    return emails


def wait_until_watching(client: MongoClient[Document], database: str) -> None:
    """A new worker saves its stream positions before handling anything."""
    wait_for(
        lambda: (
            client[database].checkpoints.count_documents(
                {"_id": {"$in": [USERS_STREAM, ORDERS_STREAM]}}
            )
            == 2
        ),
        30,
        "the worker never opened its change streams",
    )


def test_every_user_gets_one_welcome_while_the_worker_is_killed_twice(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    database = settings.mongodb_database
    worker = workers(env)
    wait_until_watching(sync_client, database)

    emails = register(shop, "kill", 0, 70)
    worker.kill()  # SIGKILL, mid-stream: some events handled, some not, checkpoint behind
    emails += register(shop, "kill", 70, 70)  # while no worker runs at all
    worker = workers(env)
    emails += register(shop, "kill", 140, 30)
    worker.kill()
    worker = workers(env)
    emails += register(shop, "kill", 170, 30)

    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
        90,
        "not every user received a welcome e-mail",
    )
    wait_for(lambda: outbox_status(sync_client, database)["pending"] == 0, 30, "outbox drained")
    per_recipient = smtp.mailbox.per_recipient()
    keys = smtp.mailbox.by_key()
    assert len(emails) == 200
    # One distinct welcome per user (each e-mail has a stable key and Message-ID) ...
    assert all(keys[key] >= 1 for key in keys)
    assert {key.split(":")[2] for key in keys} == set(emails)
    assert len(keys) == 200
    # ... and a raw duplicate only where a kill hit the instant between the SMTP server
    # accepting a message and the outbox recording it: at most one per kill.
    duplicates = sum(count - 1 for count in per_recipient.values())
    assert duplicates <= 2, per_recipient.most_common(3)
    assert outbox_status(sync_client, database) == {"sent": 200}


def test_a_worker_stopped_by_sigterm_mid_stream_saves_its_position_and_sends_nothing_twice(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    database = settings.mongodb_database
    worker = workers(env)
    wait_until_watching(sync_client, database)

    emails = register(shop, "term", 0, 40)
    wait_for(lambda: len(smtp.mailbox.per_recipient()) >= 10, 60, "the worker sent nothing")
    codes: list[int | None] = []
    stopping = threading.Thread(target=lambda: codes.append(worker.terminate()))
    stopping.start()  # SIGTERM while it streams and sends ...
    emails += register(shop, "term", 40, 40)  # ... and while users keep coming
    stopping.join(30)
    assert codes == [0], worker.log.read_text()[-3000:]
    log = worker.log.read_text()
    assert "change stream users stopped, its position saved" in log, log[-3000:]
    assert "event worker stopped, stream positions saved" in log, log[-3000:]

    workers(env)
    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
        90,
        "not every user received a welcome e-mail",
    )
    wait_for(lambda: outbox_status(sync_client, database)["pending"] == 0, 30, "outbox drained")
    # A graceful stop finishes the message in hand: not even a raw duplicate.
    per_recipient = smtp.mailbox.per_recipient()
    assert set(per_recipient) == set(emails)
    assert set(per_recipient.values()) == {1}, per_recipient.most_common(3)
    assert outbox_status(sync_client, database) == {"sent": 80}


def test_an_upgraded_worker_resumes_where_the_oldest_stream_it_merged_stopped(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    """Before one stream per collection, the mail and the webhooks each watched the users
    with a checkpoint of their own (`users-mail`, `webhooks-users`). The merged stream,
    with no checkpoint yet, resumes from the older of them: the users who registered
    while the older one was behind are welcomed. Started afresh, or from the newer one,
    it would begin after them."""
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    database = settings.mongodb_database
    worker = workers(env)
    wait_until_watching(sync_client, database)
    emails = register(shop, "upgrade", 0, 3)
    wait_for(lambda: set(smtp.mailbox.per_recipient()) >= set(emails), 60, "first welcomes")
    assert worker.terminate() == 0

    checkpoints = sync_client[database].checkpoints
    behind = checkpoints.find_one_and_delete({"_id": USERS_STREAM})
    assert behind is not None
    later = register(shop, "upgrade", 3, 4)  # only the older checkpoint is before them
    with sync_client[database].users.watch() as stream:
        ahead = stream.resume_token
    assert ahead is not None
    checkpoints.insert_many(
        [
            {**behind, "_id": "users-mail"},
            {"_id": "webhooks-users", "resume_token": ahead, "updated_at": utcnow()},
        ]
    )

    worker = workers(env)
    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails + later),
        60,
        "the users registered during the upgrade were never welcomed",
    )
    log = worker.log.read_text()
    assert "change stream users resumes where users-mail stopped" in log, log[-3000:]
    assert set(smtp.mailbox.per_recipient().values()) == {1}


def test_three_workers_at_once_send_each_welcome_exactly_once(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    for _ in range(3):
        workers(env)
    wait_until_watching(sync_client, settings.mongodb_database)

    emails = register(shop, "three", 0, 200)

    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
        90,
        "not every user received a welcome e-mail",
    )
    wait_for(
        lambda: outbox_status(sync_client, settings.mongodb_database)["pending"] == 0,
        30,
        "outbox drained",
    )
    per_recipient = smtp.mailbox.per_recipient()
    assert set(per_recipient) == set(emails)
    assert set(per_recipient.values()) == {1}
    assert outbox_status(sync_client, settings.mongodb_database) == {"sent": 200}


def test_mail_waits_while_smtp_is_down_and_is_sent_once_it_is_back(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    from .conftest import free_port

    smtp = SmtpServer(free_port())  # not started: nothing listens on the port yet
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    workers(env)
    database = settings.mongodb_database
    wait_until_watching(sync_client, database)
    emails = register(shop, "down", 0, 5)

    outbox = sync_client[database].mail_outbox
    wait_for(
        lambda: outbox.count_documents({"status": "pending", "attempts": {"$gte": 2}}) == 5,
        30,
        "the sender never retried",
    )
    failed = outbox.find_one({"status": "pending"})
    assert failed is not None
    assert failed["last_error"]
    assert "Connect" in failed["last_error"] or "refused" in failed["last_error"].lower()

    smtp.start()
    try:
        wait_for(
            lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
            60,
            "mail was not sent once the SMTP server came back",
        )
        wait_for(lambda: outbox_status(sync_client, database) == {"sent": 5}, 30, "all sent")
        assert set(smtp.mailbox.per_recipient().values()) == {1}
    finally:
        smtp.stop()


def test_an_order_gets_one_confirmation_in_the_buyers_language(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    from mongoshop.models.money import Money
    from mongoshop.models.orders import OrderItemRequest, OrderRequest
    from mongoshop.models.products import Inventory, ProductCreate
    from mongoshop.models.wallet import CreditRequest

    workers(worker_env(settings, mongodb_uri, tmp_path, smtp.port))
    wait_until_watching(sync_client, settings.mongodb_database)
    buyer = shop.users.register(
        UserCreate(
            name="Zoé",
            email="zoe.order@example.com",
            password="password1",
            preferences={"language": "fr"},  # type: ignore[arg-type]
        ),
        verified=True,
    )
    account = shop.wallet.account_of(buyer)
    shop.wallet.credit(
        str(account.id), CreditRequest(amount=10_000, currency=settings.currency, reason="test")
    )
    product = shop.catalog.create(
        ProductCreate(
            name="Mug",
            category="kitchen",
            price=Money(amount=1250, currency=settings.currency),
            inventory=Inventory(quantity=5),
        )
    )
    order, _ = shop.orders.place(
        buyer, OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=2)])
    )

    key = f"order_confirmation:{order.id}:zoe.order@example.com"
    wait_for(lambda: key in smtp.mailbox.by_key(), 60, "no order confirmation")
    wait_for(lambda: len(smtp.mailbox.by_key()) == 2, 30, "welcome and confirmation")
    subjects = {key: subject for _, key, subject in smtp.mailbox.messages}
    assert subjects[key] == f"Votre commande mongoshop {order.id}"
    assert smtp.mailbox.by_key()[key] == 1


def test_a_registration_is_confirmed_by_the_mailed_code_then_welcomed_once(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    workers(worker_env(settings, mongodb_uri, tmp_path, smtp.port))
    wait_until_watching(sync_client, settings.mongodb_database)

    def keys(kind: str) -> list[str]:
        return [key for key in smtp.mailbox.by_key() if key.startswith(f"{kind}:")]

    shop.users.request_registration(
        UserCreate(name="Nia Okafor", email="nia@example.com", password="password1")
    )
    wait_for(lambda: keys("verify_email"), 30, "no verification e-mail")
    [verification] = keys("verify_email")
    code = re.search(r"^([A-Za-z0-9_-]{40,})\r?$", smtp.mailbox.texts[verification], re.MULTILINE)
    assert code is not None, smtp.mailbox.texts[verification]
    time.sleep(1.5)
    assert keys("welcome") == []  # not before the address is confirmed

    user = shop.users.verify_email(code.group(1))

    assert user.email_verified
    wait_for(lambda: keys("welcome"), 30, "no welcome after the confirmation")
    with pytest.raises(InvalidVerificationToken):  # the code works once
        shop.users.verify_email(code.group(1))

    # The same address again: the same (silent) answer, no second account, and its
    # owner is told someone tried.
    shop.users.request_registration(
        UserCreate(name="Someone Else", email="nia@example.com", password="password2")
    )
    wait_for(lambda: keys("registration_notice"), 30, "no notice to the owner")
    assert (
        sync_client[settings.mongodb_database].users.count_documents({"email": "nia@example.com"})
        == 1
    )
    time.sleep(1.5)
    assert len(keys("welcome")) == 1
    assert smtp.mailbox.per_recipient()["nia@example.com"] == 3
