"""SIGTERM under load: requests in flight are answered, the worker saves its position, and
nothing acknowledged is lost or left half-done.

Its own `mongoshop serve` (with the in-process event worker) on a database of its own,
stopped in the middle of a stream of registrations, then started again.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from mongoshop.models.common import Document
from tests.e2e.support import AppProcess, app_environment, unique_email, verification_code

LOAD_THREADS = 6
EXIT_TIMEOUT = 30.0
MAIL_TIMEOUT = 30.0
PASSWORD = "correct-horse-1"


@dataclass
class Outcomes:
    """What the load threads saw, by e-mail: a status code, or the transport error."""

    answered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    retried: set[str] = field(default_factory=set)
    """Told 503 (overloaded) and sent again, as a client does: the first try may or may
    not have been stored, so a transport failure of the next one proves nothing."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def keep_registering(base_url: str, stop: threading.Event, outcomes: Outcomes) -> None:
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        while not stop.is_set():
            email = unique_email("load")
            body = {"name": "Load User", "email": email, "password": PASSWORD}
            for _ in range(10):
                try:
                    response = client.post("/auth/register", json=body)
                except httpx.TransportError as exc:  # refused or closed: the server stops
                    with outcomes.lock:
                        outcomes.failed[email] = type(exc).__name__
                    return
                if response.status_code != 503:
                    break
                # Six threads of password hashes on a machine busy with the other tiers:
                # the queue of hashes is bounded, and the answer says when to come back.
                with outcomes.lock:
                    outcomes.retried.add(email)
                time.sleep(min(float(response.headers.get("retry-after", "1")), 1.0))
            with outcomes.lock:
                outcomes.answered[email] = response.status_code


class SlowRegistration:
    """A registration whose body arrives in two parts: in flight for as long as we wait."""

    def __init__(self, port: int) -> None:
        self.email = unique_email("slow")
        self.body = (
            f'{{"name": "Slow User", "email": "{self.email}", "password": "{PASSWORD}"}}'
        ).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def send_first_part(self) -> None:
        head = (
            "POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.sock.sendall(head + self.body[:10])

    def finish(self) -> str:
        """Send the rest; the whole answer."""
        self.sock.sendall(self.body[10:])
        received = b""
        while chunk := self.sock.recv(65536):
            received += chunk
        self.sock.close()
        return received.decode(errors="replace")


@pytest.fixture
def database(sync_client: MongoClient[Document]) -> Iterator[str]:
    name = f"e2e_shutdown_{uuid.uuid4().hex[:16]}"
    yield name
    sync_client.drop_database(name)


def test_sigterm_under_load_answers_requests_in_flight_and_the_worker_saves_its_position(
    mongodb_uri: str, sync_client: MongoClient[Document], database: str, tmp_path: Path
) -> None:
    env = app_environment(mongodb_uri=mongodb_uri, database=database, data_dir=tmp_path / "data")
    app = AppProcess(env, tmp_path)
    base_url = app.start()
    assert app.process is not None
    process = app.process
    db = sync_client[database]

    outcomes = Outcomes()
    stop = threading.Event()
    load = [
        threading.Thread(target=keep_registering, args=(base_url, stop, outcomes))
        for _ in range(LOAD_THREADS)
    ]
    try:
        for thread in load:
            thread.start()
        while len(outcomes.answered) < 20:  # the load is on
            time.sleep(0.05)
        slow = SlowRegistration(app.port)
        slow.send_first_part()
        time.sleep(1.0)  # the server has read its head and waits for the body

        signalled_at = datetime.now(UTC)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the server is stopping; this request is still in flight
        slow_answer = slow.finish()
        code = process.wait(EXIT_TIMEOUT)
    finally:
        stop.set()
        for thread in load:
            thread.join(30)
        if process.poll() is None:
            process.kill()
            process.wait()
    log = app.log()

    # The request in flight at the signal was answered, completely, after it.
    assert slow_answer.startswith("HTTP/1.1 202"), slow_answer[:500]
    assert "a message has been sent" in slow_answer
    # A clean exit, after the worker stopped at a safe point and the client was closed.
    assert code == 0, log[-3000:]
    assert "did not stop within" not in log, log[-3000:]
    assert "change stream users stopped, its position saved" in log, log[-3000:]
    assert "event worker stopped, stream positions saved" in log, log[-3000:]
    assert "database client closed" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    saved = db.checkpoints.find_one({"_id": "users"})
    assert saved is not None
    assert saved["updated_at"].replace(tzinfo=UTC) >= signalled_at

    # Every answer was a success; a request that got none was not half-done either.
    assert set(outcomes.answered.values()) == {202}, outcomes.answered
    acknowledged = [*outcomes.answered, slow.email]
    stored = {user["email"] for user in db.users.find({}, {"email": 1})}
    assert set(acknowledged) <= stored
    for email in set(outcomes.failed) - outcomes.retried:
        assert email not in stored  # the server stopped before it read these: not there
    assert db.accounts.count_documents({}) == len(stored), "a user without a wallet"

    # Each account was stored with its verification e-mail (one transaction): started
    # again, the app sends them; confirmed, every user is welcomed once by the stream.
    base_url = app.start()
    try:
        # Read as their recipients would (the outbox keeps no code once it is sent).
        mail_dir = tmp_path / "data" / "mail"
        codes: dict[str, str | None] = {}
        deadline = time.monotonic() + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            codes = {  # the newest code of each address (only it confirms)
                item["to"]: verification_code(item, mail_dir)
                for item in db.mail_outbox.find({"kind": "verify_email"}).sort("created_at", 1)
            }
            if None not in codes.values():
                break
            time.sleep(0.25)
        assert sorted(codes) == sorted(stored)
        assert None not in codes.values()
        with httpx.Client(base_url=base_url, timeout=30.0) as client:
            for code in codes.values():
                assert client.post("/auth/verify", json={"token": code}).status_code == 200
        deadline = time.monotonic() + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            sent = db.mail_outbox.count_documents({"status": "sent"})
            if sent >= 2 * len(stored):
                break
            time.sleep(0.25)
        welcomed = [item["to"] for item in db.mail_outbox.find({"kind": "welcome"})]
        assert sorted(welcomed) == sorted(stored)
        assert db.mail_outbox.count_documents({"status": {"$ne": "sent"}}) == 0
    finally:
        app.stop()
