"""A database outage over HTTP: 503 within the timeouts, then recovery without a restart.

This module runs its own embedded server on a temporary directory (never the
session's server, which other tests share) and its own app instance, so that
the server can be stopped and started again on the same port and data.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from mongoshop.db import EmbeddedServer
from tests.e2e.support import (
    Api,
    AppProcess,
    Mailroom,
    app_environment,
    bearer,
    new_client,
    timed,
)

# Generous bounds on fault behaviour, not speed benchmarks: server selection
# gives up after 1.5 s, and a read may be retried once.
UNAVAILABLE_WITHIN = 8.0
RECOVERY_WITHIN = 20.0


class Outage:
    """The database server and the app for this module; the server may be replaced."""

    def __init__(self, data_dir: Path, workdir: Path) -> None:
        self.data_dir = data_dir
        self.workdir = workdir
        self.server = EmbeddedServer(data_dir)
        self.port = 0
        self.database = ""
        self.app: AppProcess | None = None
        self.mail: Mailroom | None = None

    def start(self) -> str:
        self.server.start()
        assert self.server.port is not None
        self.port = self.server.port
        self.database = f"e2e_outage_{uuid.uuid4().hex[:16]}"
        env = app_environment(
            mongodb_uri=self.server.uri,
            database=self.database,
            data_dir=self.workdir / "data",
            extra={
                "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "1500",
                "MONGOSHOP_CONNECT_TIMEOUT_MS": "1000",
                "MONGOSHOP_TRANSACTION_TIMEOUT_MS": "2500",
            },
        )
        self.app = AppProcess(env, self.workdir)
        self.mail = Mailroom(self.server.uri, self.database, self.workdir / "data" / "mail")
        return self.app.start()

    def stop_database(self) -> None:
        self.server.stop()

    def freeze_database(self) -> None:
        """SIGSTOP: the server keeps its connections open and answers nothing, as a
        hung host or a partition that drops packets would."""
        assert self.server.process is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)

    def thaw_database(self) -> None:
        assert self.server.process is not None
        os.kill(self.server.process.pid, signal.SIGCONT)

    def restart_database(self) -> None:
        """The same data directory on the same port, as after an operator's restart."""
        self.server = EmbeddedServer(self.data_dir, port=self.port)
        self.server.start()

    def close(self) -> None:
        if self.app is not None:
            self.app.stop()
        if self.mail is not None:
            self.mail.close()
        self.server.stop()


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    setup = Outage(tmp_path / "db", tmp_path)
    try:
        setup.start()
        yield setup
    finally:
        setup.close()


@pytest.fixture
def outage_client(outage: Outage) -> Iterator[httpx.Client]:
    assert outage.app is not None
    with new_client(outage.app.base_url, allow_unavailable=True) as client:
        yield client


def test_an_outage_is_503_quickly_and_the_app_recovers_by_itself(
    outage: Outage, outage_client: httpx.Client
) -> None:
    client = outage_client
    api = Api(client, outage.mail)
    account = api.new_account("Outage Olga")
    renamed = client.patch(
        f"/users/{account.id}", json={"name": "Olga Before Outage"}, headers=account.headers
    )
    assert renamed.status_code == 200

    outage.stop_database()

    health, health_seconds = timed(lambda: client.get("/health"))
    assert health.status_code == 503
    body = health.json()
    assert (body["status"], body["database"]) == ("unavailable", "unreachable")
    assert health_seconds < UNAVAILABLE_WITHIN

    me, me_seconds = timed(lambda: client.get("/users/me", headers=account.headers))
    assert me.status_code == 503
    assert me.json()["error"] == "database_unavailable"
    assert set(me.json()) == {"error", "detail"}
    assert me.headers.get("retry-after")
    assert me_seconds < UNAVAILABLE_WITHIN

    login, login_seconds = timed(
        lambda: client.post(
            "/auth/login", json={"email": account.email, "password": account.password}
        )
    )
    assert login.status_code == 503
    assert login.json()["error"] == "database_unavailable"
    assert login_seconds < UNAVAILABLE_WITHIN

    outage.restart_database()

    deadline = time.monotonic() + RECOVERY_WITHIN
    while True:
        me = client.get("/users/me", headers=account.headers)
        if me.status_code == 200 or time.monotonic() > deadline:
            break
        assert me.status_code == 503
        time.sleep(0.25)
    assert me.status_code == 200, "the app did not recover within the bound"
    assert me.json()["id"] == account.id
    assert me.json()["name"] == "Olga Before Outage"
    health = client.get("/health").json()
    assert (health["status"], health["database"], health["stalled_collections"]) == ("ok", "ok", [])
    assert api.me(api.login(account.email, account.password)).status_code == 200
    assert client.get(f"/users/{account.id}", headers=bearer(account.token)).status_code == 200


FROZEN_WITHIN = 5.0 + 3.0
"""The operation deadline (MONGOSHOP_OPERATION_TIMEOUT_SECONDS, 5 s) and a margin; the
socket timeout, which answered a frozen database before, is 20 s."""


def test_a_frozen_database_is_503_within_the_request_deadline(
    outage: Outage, outage_client: httpx.Client
) -> None:
    client = outage_client
    account = Api(client, outage.mail).new_account("Frozen Fred")
    assert client.get("/accounts/me", headers=account.headers).status_code == 200

    outage.freeze_database()
    try:
        wallet, wallet_seconds = timed(lambda: client.get("/accounts/me", headers=account.headers))
        order, order_seconds = timed(
            lambda: client.post(
                "/orders",
                json={"items": [{"product_id": "6650f1c2a1b2c3d4e5f60718", "quantity": 1}]},
                headers=account.headers,
            )
        )
    finally:
        outage.thaw_database()

    assert wallet.status_code == 503
    assert wallet.json()["error"] == "database_unavailable"
    assert wallet_seconds < FROZEN_WITHIN
    assert order.status_code == 503
    assert order_seconds < FROZEN_WITHIN
    deadline = time.monotonic() + RECOVERY_WITHIN
    while client.get("/accounts/me", headers=account.headers).status_code != 200:
        assert time.monotonic() < deadline, "the app did not recover after the thaw"
        time.sleep(0.25)


def test_under_load_an_outage_answers_503_and_loses_no_acknowledged_write(
    outage: Outage, outage_client: httpx.Client
) -> None:
    """Eight clients keep registering users through a stop and a restart of the database.

    Every answer is 202 or 503 (no 500, no hang past the timeouts); each 202 is
    a write the API acknowledged, and every one of them is there after the
    restart. The app recovers without being restarted.
    """
    assert outage.app is not None
    base_url = outage.app.base_url
    stop = threading.Event()
    acknowledged: list[str] = []
    statuses: list[int] = []
    slowest = [0.0]
    lock = threading.Lock()

    def register_forever(worker: int) -> None:
        with new_client(base_url, allow_unavailable=True, timeout=UNAVAILABLE_WITHIN * 2) as client:
            n = 0
            while not stop.is_set():
                email = f"load-{worker}-{n}-{uuid.uuid4().hex[:6]}@example.com"
                body = {"name": "Load Tester", "email": email, "password": "correct-horse-1"}
                response, seconds = timed(
                    lambda body=body: client.post("/auth/register", json=body)  # type: ignore[misc]
                )
                with lock:
                    statuses.append(response.status_code)
                    slowest[0] = max(slowest[0], seconds)
                    if response.status_code == 202:
                        acknowledged.append(email)
                n += 1

    workers = [threading.Thread(target=register_forever, args=(n,)) for n in range(8)]
    for thread in workers:
        thread.start()
    try:
        time.sleep(2)
        outage.stop_database()
        time.sleep(4)
        with lock:
            during = len(statuses)
        outage.restart_database()
        deadline = time.monotonic() + RECOVERY_WITHIN
        while time.monotonic() < deadline:
            with lock:
                if statuses[during:].count(202) >= 8:
                    break
            time.sleep(0.25)
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)

    assert set(statuses) <= {202, 503}, sorted(set(statuses))
    assert 503 in statuses, "the outage was never seen: the test did not test it"
    assert statuses[during:].count(202) >= 8, "the app did not recover within the bound"
    assert slowest[0] < UNAVAILABLE_WITHIN * 2
    with new_client(base_url) as client:
        api = Api(client, outage.mail)
        admin = api.new_account("Load Checker")
        assert admin.token
    stored = MongoClient(outage.server.uri, tz_aware=True)
    try:
        found = {
            document["email"]
            for document in stored[outage.database].users.find(
                {"email": {"$in": acknowledged}}, {"email": 1}
            )
        }
    finally:
        stored.close()
    assert found == set(acknowledged), f"{len(set(acknowledged) - found)} acknowledged lost"
