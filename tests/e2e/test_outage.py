"""A database outage over HTTP: 503 within the timeouts, then recovery without a restart.

This module runs its own embedded server on a temporary directory (never the
session's server, which other tests share) and its own app instance, so that
the server can be stopped and started again on the same port and data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mongoshop.db import EmbeddedServer
from tests.e2e.support import Api, AppProcess, app_environment, bearer, new_client, timed

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
        self.app: AppProcess | None = None

    def start(self) -> str:
        self.server.start()
        assert self.server.port is not None
        self.port = self.server.port
        env = app_environment(
            mongodb_uri=self.server.uri,
            database=f"e2e_outage_{uuid.uuid4().hex[:16]}",
            data_dir=self.workdir / "data",
            extra={
                "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "1500",
                "MONGOSHOP_CONNECT_TIMEOUT_MS": "1000",
            },
        )
        self.app = AppProcess(env, self.workdir)
        return self.app.start()

    def stop_database(self) -> None:
        self.server.stop()

    def restart_database(self) -> None:
        """The same data directory on the same port, as after an operator's restart."""
        self.server = EmbeddedServer(self.data_dir, port=self.port)
        self.server.start()

    def close(self) -> None:
        if self.app is not None:
            self.app.stop()
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
    api = Api(client)
    account = api.new_account("Outage Olga")
    renamed = client.patch(
        f"/users/{account.id}", json={"name": "Olga Before Outage"}, headers=account.headers
    )
    assert renamed.status_code == 200

    outage.stop_database()

    health, health_seconds = timed(lambda: client.get("/health"))
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unreachable"}
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
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert api.me(api.login(account.email, account.password)).status_code == 200
    assert client.get(f"/users/{account.id}", headers=bearer(account.token)).status_code == 200
