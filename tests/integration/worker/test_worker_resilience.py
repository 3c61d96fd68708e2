"""The worker against database trouble: a restarted server, and history lost from the oplog.

These tests run their own embedded server, since they stop it or shrink its oplog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongoshop._sync.shop import Shop
from mongoshop.db import EmbeddedServer, create_sync_client
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.worker.event_streams import USERS_STREAM
from mongoshop.worker.streams import HISTORY_LOST_CODES

from .conftest import SmtpServer, WorkerProcess, outbox_status, wait_for, worker_env
from .test_worker_mail import register, wait_until_watching


class OwnServer:
    """An embedded server on a data directory of the test's, with a shop over it."""

    def __init__(self, data_dir: Path, settings: Settings, extra_args: list[str]) -> None:
        self.server = EmbeddedServer(data_dir, extra_args=extra_args)
        self.settings = settings
        self.client: MongoClient[Document] | None = None

    def start(self) -> Shop:
        self.server.start()
        self.client = create_sync_client(self.server.uri, self.settings)
        hasher = PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
        shop = Shop(self.client[self.settings.mongodb_database], self.settings, hasher=hasher)
        shop.ensure_indexes()
        return shop

    def restart(self) -> Shop:
        port = self.server.port
        self.stop()
        self.server = EmbeddedServer(
            self.server.data_dir, port=port, extra_args=self.server.extra_args
        )
        return self.start()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.server.stop()


@pytest.fixture
def own_server(tmp_path: Path, settings: Settings) -> Iterator[Callable[[list[str]], OwnServer]]:
    servers: list[OwnServer] = []

    def make(extra_args: list[str]) -> OwnServer:
        server = OwnServer(tmp_path / f"db{len(servers)}", settings, extra_args)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def test_the_worker_resumes_after_the_database_restarts_and_loses_nothing(
    own_server: Callable[[list[str]], OwnServer],
    settings: Settings,
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    database = own_server([])
    shop = database.start()
    assert database.client is not None
    env = worker_env(settings, database.server.uri, tmp_path, smtp.port)
    workers(env)
    wait_until_watching(database.client, settings.mongodb_database)

    emails = register(shop, "restart", 0, 40)
    shop = database.restart()  # mid-stream: the worker is still working through these
    emails += register(shop, "restart", 40, 40)

    assert database.client is not None
    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
        90,
        "events were lost across the database restart",
    )
    wait_for(
        lambda: outbox_status(database.client, settings.mongodb_database) == {"sent": 80},  # type: ignore[arg-type]
        30,
        "outbox drained",
    )
    assert set(smtp.mailbox.per_recipient().values()) == {1}


def test_a_worker_whose_token_left_the_oplog_reconciles_instead_of_skipping(
    own_server: Callable[[list[str]], OwnServer],
    settings: Settings,
    smtp: SmtpServer,
    workers: Callable[[dict[str, str]], WorkerProcess],
    tmp_path: Path,
) -> None:
    database = own_server(["--oplog-max-entries", "100"])
    shop = database.start()
    client = database.client
    assert client is not None
    name = settings.mongodb_database
    env = worker_env(settings, database.server.uri, tmp_path, smtp.port)
    worker = workers(env)
    wait_until_watching(client, name)
    emails = register(shop, "lost", 0, 10)
    wait_for(lambda: set(smtp.mailbox.per_recipient()) >= set(emails), 60, "first welcomes")
    worker.terminate()
    token_before = client[name].checkpoints.find_one({"_id": USERS_STREAM})
    assert token_before is not None

    # While no worker runs: new users, then enough other writes to push the
    # checkpoint's position out of a 100-entry oplog.
    emails += register(shop, "lost", 10, 20)
    filler = client[name].filler
    for start in range(0, 3000, 500):
        filler.insert_many([{"n": n} for n in range(start, start + 500)])
    with (
        pytest.raises(OperationFailure) as lost,
        client[name].users.watch(resume_after=token_before["resume_token"]) as stream,
    ):
        stream.try_next()
    assert lost.value.code in HISTORY_LOST_CODES

    workers(env)
    wait_for(
        lambda: set(smtp.mailbox.per_recipient()) >= set(emails),
        90,
        "users registered while the history was lost got no welcome",
    )
    wait_for(lambda: outbox_status(client, name) == {"sent": 30}, 30, "outbox drained")
    assert set(smtp.mailbox.per_recipient().values()) == {1}
    logs = "".join(path.read_text() for path in tmp_path.glob("worker-*.log"))
    assert "cannot resume" in logs
    assert "reconciled: 20 item(s) enqueued" in logs
