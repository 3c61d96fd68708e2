"""Slow clients do not hold the server (issue 21): a request head must arrive within
MONGOSHOP_REQUEST_HEAD_TIMEOUT_SECONDS, a body within MONGOSHOP_REQUEST_BODY_TIMEOUT_SECONDS
of its head (408), and past MONGOSHOP_MAX_CONNECTIONS new requests get 503 at once.

Its own app with short deadlines and a small connection limit, probed with raw sockets
the way the audit did (a byte now and then), against `mongoshop serve`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import AppProcess, app_environment

HEAD_SECONDS = 1.0
BODY_SECONDS = 2.0
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def strict(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    workdir: Path = tmp_path_factory.mktemp("e2e-slow-clients")
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=f"e2e_slow_{uuid.uuid4().hex[:16]}",
        data_dir=workdir / "data",
        extra={
            "MONGOSHOP_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_SECONDS),
            "MONGOSHOP_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_SECONDS),
            "MONGOSHOP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        },
    )
    process = AppProcess(env, workdir, ["--no-worker"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def connect(app: AppProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", app.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> tuple[float, bytes]:
    """Send `trickle` a byte every 0.2 s until the server closes; (time taken, answer)."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.2)
    position = 0
    while time.monotonic() - started < seconds:
        if position < len(trickle):
            with contextlib.suppress(OSError):
                sock.sendall(trickle[position : position + 1])
            position += 1
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - started, received


def test_a_connection_that_sends_nothing_is_closed(strict: AppProcess) -> None:
    with connect(strict) as sock:
        took, answer = closed_within(sock, 10)
    assert took < HEAD_SECONDS + 3
    assert answer == b""


def test_a_trickled_request_head_is_cut_off(strict: AppProcess) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with connect(strict) as sock:
        took, answer = closed_within(sock, 10, trickle=head)
    assert took < HEAD_SECONDS + 3
    assert b"200 OK" not in answer  # the head never completed


def test_a_trickled_body_gets_408_in_json(strict: AppProcess) -> None:
    body = json.dumps({"email": "slow@example.com", "password": "x" * 40}).encode()
    head = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with connect(strict) as sock:
        sock.sendall(head)
        took, answer = closed_within(sock, 15, trickle=body)
    assert took < BODY_SECONDS + 4
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"
    time.sleep(0.5)  # the application saw the disconnect
    log = strict.log()
    assert "Traceback" not in log, log
    assert "slow connections closed so far" in log  # said once, not silently


def test_a_quick_client_keeps_its_connection_between_requests(strict: AppProcess) -> None:
    with httpx.Client(base_url=strict.base_url) as client:
        assert client.get("/health").status_code == 200
        time.sleep(HEAD_SECONDS + 0.5)  # idle longer than the head deadline, within keep-alive
        assert client.get("/health").status_code == 200


def test_past_the_connection_limit_new_requests_get_503_at_once(strict: AppProcess) -> None:
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(connect(strict)) for _ in range(MAX_CONNECTIONS)]
        assert len(idle) == MAX_CONNECTIONS
        started = time.monotonic()
        answer = httpx.get(f"{strict.base_url}/health", timeout=5)
        assert answer.status_code == 503
        assert time.monotonic() - started < 2
    # The idle ones are closed by the head deadline: room again.
    time.sleep(HEAD_SECONDS + 1)
    assert httpx.get(f"{strict.base_url}/health", timeout=5).status_code == 200
