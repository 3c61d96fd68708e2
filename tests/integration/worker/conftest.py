"""Fixtures for the event tests: a real SMTP server (aiosmtpd) and worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pymongo import MongoClient

from mongoshop.models.common import Document
from mongoshop.settings import Settings

WORKER = Path(sys.executable).with_name("mongoshop")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """What the SMTP server received: (recipient, X-Mongoshop-Key, subject) per message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, str, str]] = []
        self.texts: dict[str, str] = {}
        """The plain-text part of each message, by X-Mongoshop-Key."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        text = message.get_body(("plain",))
        with self.lock:
            self.texts[str(message["X-Mongoshop-Key"]).strip()] = (
                "" if text is None else str(text.get_content())
            )
            for recipient in envelope.rcpt_tos:
                self.messages.append(
                    (
                        recipient,
                        str(message["X-Mongoshop-Key"]).strip(),
                        str(message["Subject"]).strip(),
                    )
                )
        return "250 OK"

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(recipient for recipient, _, _ in self.messages)

    def by_key(self) -> Counter[str]:
        with self.lock:
            return Counter(key for _, key, _ in self.messages)


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


class WorkerProcess:
    """`mongoshop worker` as a real separate process."""

    def __init__(self, env: dict[str, str], log: Path, args: Sequence[str] = ()) -> None:
        self.env = env
        self.log = log
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(WORKER), "worker", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def terminate(self) -> int | None:
        """SIGTERM, SIGKILL after 20 s; the exit code (None if it had already stopped)."""
        code = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        return code


def worker_env(
    settings: Settings, uri: str, data_dir: Path, smtp_port: int, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONGOSHOP_", "MONGODB_"))
    }
    env.update(
        {
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": settings.mongodb_database,
            "MONGOSHOP_TOKEN_SECRET": settings.token_secret.get_secret_value(),
            "MONGOSHOP_DATA_DIR": str(data_dir),
            "MONGOSHOP_SMTP_HOST": "127.0.0.1",
            "MONGOSHOP_SMTP_PORT": str(smtp_port),
            "MONGOSHOP_SMTP_SECURITY": "none",
            "MONGOSHOP_SMTP_TIMEOUT_SECONDS": "5",
            "MONGOSHOP_MAIL_LEASE_SECONDS": "10",
            "MONGOSHOP_MAIL_RETRY_BASE_SECONDS": "0.2",
            "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "2000",
            **extra,
        }
    )
    return env


class Launch(Protocol):
    def __call__(self, env: dict[str, str], *args: str) -> WorkerProcess: ...


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Launch]:
    started: list[WorkerProcess] = []

    def launch(env: dict[str, str], *args: str) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log", args)
        worker.start()
        started.append(worker)
        return worker

    yield launch
    for worker in started:
        worker.terminate()


def wait_for(condition: Callable[[], Any], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s: {message}")


def outbox_status(client: MongoClient[Document], database: str) -> Counter[str]:
    return Counter(
        document["status"] for document in client[database].mail_outbox.find({}, {"status": 1})
    )
