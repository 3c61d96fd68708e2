"""Our launcher of the embedded SecantusDB, on data directories of its own.

These start real server processes (not the session's), so they run whatever
server the other tests use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from mongoshop.db import EmbeddedServer
from mongoshop.db.embedded import STATE_FILE, answers_ping


@pytest.fixture
def servers() -> Iterator[list[EmbeddedServer]]:
    """Servers a test starts; whatever it leaves running is stopped afterwards."""
    started: list[EmbeddedServer] = []
    yield started
    for server in reversed(started):
        server.stop()


def start(servers: list[EmbeddedServer], data_dir: Path) -> EmbeddedServer:
    server = EmbeddedServer(data_dir, startup_timeout=30)
    servers.append(server)
    server.start()
    return server


def state_of(data_dir: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((data_dir / STATE_FILE).read_text())
    return loaded


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_started_server_answers_ping_and_records_its_pid_and_port(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    server = start(servers, tmp_path / "db")

    assert server.owner
    assert answers_ping(server.uri)
    assert server.process is not None
    assert state_of(tmp_path / "db") == {
        "pid": server.process.pid,
        "port": server.port,
        "host": "127.0.0.1",
    }


def test_a_second_launcher_on_the_same_directory_attaches_instead_of_starting(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    first = start(servers, tmp_path / "db")

    second = start(servers, tmp_path / "db")

    assert second.owner is False
    assert second.port == first.port
    assert second.uri == first.uri
    second.stop()  # not the owner: the server keeps running
    assert answers_ping(first.uri)
    assert (tmp_path / "db" / STATE_FILE).exists()


def test_data_survives_a_stop_and_a_start(servers: list[EmbeddedServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path / "db")
    with MongoClient(server.uri) as client:
        client.shop.things.insert_one({"_id": 1, "name": "kept"})

    server.stop()
    assert not answers_ping(server.uri, timeout_ms=300)
    restarted = start(servers, tmp_path / "db")

    with MongoClient(restarted.uri) as client:
        assert client.shop.things.find_one({"_id": 1}) == {"_id": 1, "name": "kept"}


def test_a_stale_state_file_of_a_dead_process_is_replaced(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    gone = dead_pid()
    (data_dir / STATE_FILE).write_text(json.dumps({"pid": gone, "port": 1, "host": "127.0.0.1"}))

    server = start(servers, data_dir)

    assert server.owner
    assert server.process is not None
    assert answers_ping(server.uri)
    state = state_of(data_dir)
    assert state["pid"] == server.process.pid != gone
    assert state["port"] == server.port


def test_stopping_the_owner_stops_the_server_and_removes_the_state_file(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    server = start(servers, tmp_path / "db")
    process = server.process
    assert process is not None

    server.stop()

    assert process.poll() is not None
    assert not (tmp_path / "db" / STATE_FILE).exists()
    assert not answers_ping(server.uri, timeout_ms=300)
