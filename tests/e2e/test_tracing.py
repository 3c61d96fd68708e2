"""One order, followed from the request to the e-mail and every webhook attempt: one trace.

The API (``mongoshop serve --no-worker``) and the worker (``mongoshop worker``) run as two
processes, tracing switched on by the standard variables only, exporting over OTLP/HTTP
to a receiver in this test that decodes what they send (`tests.e2e.otlp`). The order's
trace must hold the request, its transaction, the change event the worker read (hours
later it would be the same), the confirmation e-mail's sending and each webhook attempt,
with the right parents; and nothing secret may be in any span.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from mongoshop.models.common import Document
from mongoshop.worker.event_streams import EVENT_STREAMS
from tests.e2e.otlp import OtlpReceiver, ReceivedSpan
from tests.e2e.support import (
    Account,
    AppProcess,
    Mailroom,
    app_environment,
    bearer,
    create_product,
    fund,
    mongoshop_command,
    new_client,
    place_order,
    wait_until,
)
from tests.e2e.support import Api as ApiHelper
from tests.integration.webhooks.receiver import Answer, Receiver

SERVER, CLIENT = 2, 3
"""OTLP span kinds."""
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    def fail_once(event_id: str, before: int) -> Answer:
        return 503 if before == 0 else 204

    receiver = Receiver(fail_once).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def database(sync_client: MongoClient[Document]) -> Iterator[str]:
    name = f"e2e_tracing_{uuid.uuid4().hex[:16]}"
    yield name
    sync_client.drop_database(name)


def test_one_trace_holds_the_request_its_transaction_the_event_the_mail_and_each_attempt(
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    database: str,
    tmp_path: Path,
    otlp: OtlpReceiver,
    webhook_receiver: Receiver,
) -> None:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@trace.example.com"
    admin_password = f"admin-pw-{uuid.uuid4().hex}"
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=database,
        data_dir=tmp_path / "data",
        extra={
            "MONGOSHOP_ADMIN_EMAIL": admin_email,
            "MONGOSHOP_ADMIN_PASSWORD": admin_password,
            "MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "MONGOSHOP_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "MONGOSHOP_WEBHOOK_MAX_BACKOFF_SECONDS": "1",
            "MONGOSHOP_LOG_FORMAT": "json",
            # The standard variables, and nothing of ours: tracing on, every trace kept
            # (the sampler is the default's parent-based one, always on at the root).
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    api_process = AppProcess(env, tmp_path, ["--no-worker"])
    worker_log = tmp_path / "worker.log"
    with contextlib.ExitStack() as stack:
        base_url = api_process.start()
        stack.callback(api_process.stop)
        with open(worker_log, "ab") as log:
            worker = subprocess.Popen(
                [str(mongoshop_command()), "worker"],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        stack.callback(lambda: (worker.terminate(), worker.wait(30)))
        # A new worker saves its streams' positions before it handles anything.
        wait_until(
            lambda: sync_client[database].checkpoints.count_documents({}) >= len(EVENT_STREAMS),
            60,
            "the worker's change streams to open",
        )
        client = stack.enter_context(new_client(base_url))
        mail = Mailroom(mongodb_uri, database, tmp_path / "data" / "mail")
        stack.callback(mail.close)
        helper = ApiHelper(client, mail)

        admin_token = helper.login(admin_email, admin_password)
        admin = bearer(admin_token)
        hook_token = f"hook-{uuid.uuid4().hex}"
        subscription = client.post(
            "/admin/webhooks",
            json={
                "url": webhook_receiver.url.split("?")[0] + f"?token={hook_token}",
                "event_types": ["order.placed"],
            },
            headers=admin,
        )
        assert subscription.status_code == 201, subscription.text
        webhook_secret = subscription.json()["secret"]
        webhook_receiver.secrets.append(webhook_secret)

        buyer_email = f"buyer-{uuid.uuid4().hex[:8]}@trace.example.com"
        buyer_password = f"buyer-pw-{uuid.uuid4().hex}"
        helper.register(
            name="Trace Buyer", email=buyer_email, password=buyer_password, verify=False
        )
        code = mail.code_for(buyer_email, timeout=30)
        helper.verify(code)
        token = helper.login(buyer_email, buyer_password)
        me = client.get("/users/me", headers=bearer(token)).json()
        buyer = Account(me["id"], buyer_email, buyer_password, me["name"], token)
        fund(client, admin, buyer, 5_000)
        product = create_product(client, admin, stock=3, price=700)
        order = place_order(client, buyer, [(product["id"], 2)])
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]

        # The two attempts (a 503, then a 204), and the confirmation e-mail sent.
        wait_until(lambda: len(webhook_receiver.snapshot()) >= 2, 60, "the webhook's two attempts")
        wait_until(
            lambda: mail.outbox.find_one(
                {"kind": "order_confirmation", "status": "sent", "to": buyer_email}
            ),
            60,
            "the order's confirmation e-mail to be sent",
        )

        def order_trace() -> list[ReceivedSpan] | None:
            spans = otlp.snapshot()
            [request] = [s for s in spans if s.name == "POST /orders" and s.kind == SERVER] or [
                None
            ]
            if request is None:
                return None
            trace = [s for s in spans if s.trace_id == request.trace_id]
            attempts = [s for s in trace if s.name == "webhook attempt"]
            sends = [s for s in trace if s.name == "mail send"]
            done = len(attempts) >= 2 and any(
                a.attributes.get("mongoshop.outcome") == "delivered" for a in attempts
            )
            return trace if done and sends else None

        trace = wait_until(order_trace, 60, "the order's trace, whole, at the receiver")
        spans = otlp.snapshot()

    if dump := os.environ.get("MONGOSHOP_TRACE_DUMP"):  # the docs' picture (tools/trace_picture.py)
        Path(dump).write_text(json.dumps([dataclasses.asdict(s) for s in trace], default=str))
    by_id = {span.span_id: span for span in trace}
    [request] = [s for s in trace if s.name == "POST /orders" and s.kind == SERVER]
    assert request.service == "mongoshop-api"
    assert request.parent_id == ""  # the root: nothing upstream sent a traceparent

    def ancestors(span: ReceivedSpan) -> list[str]:
        names = []
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            names.append(span.name)
        return names

    # The request's transaction, its attempt, and the database commands inside it.
    [transaction] = [s for s in trace if s.name == "transaction"]
    assert "POST /orders" in ancestors(transaction)
    attempts_of_transaction = [s for s in trace if s.name == "transaction.attempt"]
    assert attempts_of_transaction
    # (A buyer of a product runs in the product's batch: a `transaction batch` span, in the
    # trace of the first buyer it holds, between the transaction and its attempts.)
    assert all(
        by_id[a.parent_id] is transaction
        or (by_id[a.parent_id].name == "transaction batch" and "transaction" in ancestors(a))
        for a in attempts_of_transaction
    )
    commands = [s for s in trace if s.kind == CLIENT and s.attributes.get("db.system") == "mongodb"]
    assert any("transaction.attempt" in ancestors(c) for c in commands), [c.name for c in commands]
    assert all(s.service == "mongoshop-api" for s in [transaction, *attempts_of_transaction])

    # The change event the worker read, a child of the request (another process).
    events = [s for s in trace if s.name == "change event"]
    [event] = [e for e in events if e.attributes.get("mongoshop.change.key") == order_id]
    assert event.service == "mongoshop-worker"
    assert event.parent_id == request.span_id
    assert event.attributes["mongoshop.stream"] == "orders"
    # ... and the stream's batch that read it: a trace of its own, linked to the request.
    batches = [s for s in spans if s.name == "stream batch" and s.service == "mongoshop-worker"]
    assert any(
        link.trace_id == request.trace_id and link.span_id == request.span_id
        for batch in batches
        for link in batch.links
    )

    # The confirmation e-mail, sent as a child of the change event.
    [send] = [s for s in trace if s.name == "mail send"]
    assert send.parent_id == event.span_id
    assert send.attributes["mongoshop.mail.kind"] == "order_confirmation"
    assert send.attributes["mongoshop.outcome"] == "sent"

    # Each webhook attempt, with its status, its duration and the decision it led to.
    attempts = sorted(
        (s for s in trace if s.name == "webhook attempt"),
        key=lambda s: s.attributes["mongoshop.attempt"],
    )
    assert [a.parent_id for a in attempts] == [event.span_id, event.span_id]
    first, second = attempts
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["mongoshop.outcome"] == "retry"
    assert first.attributes["mongoshop.webhook.retry_in_s"] > 0
    assert second.attributes["http.response.status_code"] == 204
    assert second.attributes["mongoshop.outcome"] == "delivered"
    assert all(a.attributes["mongoshop.webhook.duration_ms"] >= 0 for a in attempts)
    assert all(a.attributes["mongoshop.webhook.event_type"] == "order.placed" for a in attempts)
    # The POST itself (httpx's span), and its traceparent: the receiver continues the trace.
    posts = [s for s in trace if s.kind == CLIENT and s.parent_id in {a.span_id for a in attempts}]
    assert len(posts) >= 2, [(s.name, s.attributes) for s in trace if s.kind == CLIENT]
    for arrival in webhook_receiver.snapshot():
        sent = TRACEPARENT.match(arrival.headers.get("traceparent", ""))
        assert sent is not None, arrival.headers
        assert sent.group(1) == request.trace_id
        assert sent.group(2) in {s.span_id for s in posts}

    # Logs and traces agree: the worker's line about the delivery carries its ids.
    delivered_lines = [
        line for line in worker_log.read_text().splitlines() if '"webhook evt_' in line
    ]
    assert any(
        f'"trace_id": "{request.trace_id}"' in line and f'"span_id": "{second.span_id}"' in line
        for line in delivered_lines
    ), delivered_lines[-5:]

    # Nothing secret in any span of any trace, from either process.
    secrets = {
        "the buyer's password": buyer_password,
        "the admin's password": admin_password,
        "the buyer's token": token,
        "the admin's token": admin_token,
        "the verification code": code,
        "the webhook secret": webhook_secret,
        "the token in the webhook URL": hook_token,
        "the buyer's address": buyer_email,
        "a password hash": "$argon2",
    }
    for span in spans:
        for text in span.texts():
            for what, secret in secrets.items():
                assert secret not in text, f"{what} in span {span.name!r}: {text[:200]}"
