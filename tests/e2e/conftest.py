"""One running app for the session, on the session's database server.

The app gets a database of its own (``e2e_<uuid>``), dropped at the end, and
an admin created by its start-up bootstrap from MONGOSHOP_ADMIN_EMAIL /
MONGOSHOP_ADMIN_PASSWORD. Tests share the app, so each one registers users
with unique e-mails and never counts on a collection being empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pymongo
import pytest
from pymongo import MongoClient

from mongoshop.models.common import Document
from tests.conftest import DROP_TIMEOUT
from tests.e2e.support import Account, Api, AppProcess, Mailroom, app_environment, new_client


@dataclass(frozen=True)
class RunningApp:
    base_url: str
    database: str
    admin_email: str
    admin_password: str
    process: AppProcess


@pytest.fixture(scope="session")
def app(
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningApp]:
    """``mongoshop serve`` against the session's server, stopped (SIGTERM) at the end."""
    workdir = tmp_path_factory.mktemp("e2e-app")
    database = f"e2e_{uuid.uuid4().hex}"
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@e2e.example.com"
    admin_password = f"admin-{uuid.uuid4().hex}"
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=database,
        data_dir=workdir / "data",
        extra={
            "MONGOSHOP_ADMIN_EMAIL": admin_email,
            "MONGOSHOP_ADMIN_PASSWORD": admin_password,
            # Every test here signs in from 127.0.0.1, many on purpose with wrong
            # passwords; the per-client limit is exercised by test_login_throttle
            # on an app of its own, and must not trip this shared one.
            "MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT": "10000",
            # The webhook tests' receiver listens on loopback (the development setting),
            # and its scripted failures are retried in tenths of a second.
            "MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "MONGOSHOP_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "MONGOSHOP_WEBHOOK_MAX_BACKOFF_SECONDS": "2",
        },
    )
    process = AppProcess(env, workdir)
    try:
        base_url = process.start()
        yield RunningApp(base_url, database, admin_email, admin_password, process)
    finally:
        process.stop()
        # The session's database is large by now, and the other tiers load the machine:
        # the drop gets the same room as every other test database's (not the 20 s of
        # one socket read).
        with pymongo.timeout(DROP_TIMEOUT):
            sync_client.drop_database(database)


@pytest.fixture(scope="session")
def client(app: RunningApp) -> Iterator[httpx.Client]:
    with new_client(app.base_url) as client:
        yield client


@pytest.fixture(scope="session")
def mail(mongodb_uri: str, app: RunningApp) -> Iterator[Mailroom]:
    """The session app's outgoing e-mail (its outbox)."""
    mailroom = Mailroom(
        mongodb_uri, app.database, Path(app.process.env["MONGOSHOP_DATA_DIR"]) / "mail"
    )
    yield mailroom
    mailroom.close()


@pytest.fixture(scope="session")
def api(client: httpx.Client, mail: Mailroom) -> Api:
    return Api(client, mail)


@pytest.fixture(scope="session")
def admin_token(api: Api, app: RunningApp) -> str:
    return api.login(app.admin_email, app.admin_password)


@pytest.fixture(scope="session")
def admin_headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture
def user(api: Api) -> Account:
    """A fresh registered and signed-in user."""
    return api.new_account("Alice Example")


@pytest.fixture
def other_user(api: Api) -> Account:
    return api.new_account("Bob Example")
