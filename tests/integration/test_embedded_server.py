"""Our launcher of the embedded SecantusDB, on data directories of its own.

These start real server processes (not the session's), so they run whatever
server the other tests use.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from mongoshop.db import EmbeddedServer, embedded
from mongoshop.db.embedded import STATE_FILE, server_pid
from mongoshop.errors import DatabaseUnavailable


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


def test_a_started_server_answers_as_itself_and_records_its_pid_and_port(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    server = start(servers, tmp_path / "db")

    assert server.owner
    assert server.process is not None
    assert server_pid(server.uri) == server.process.pid
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
    assert first.process is not None
    assert server_pid(first.uri) == first.process.pid
    assert (tmp_path / "db" / STATE_FILE).exists()


def test_data_survives_a_stop_and_a_start(servers: list[EmbeddedServer], tmp_path: Path) -> None:
    server = start(servers, tmp_path / "db")
    with MongoClient(server.uri) as client:
        client.shop.things.insert_one({"_id": 1, "name": "kept"})

    server.stop()
    assert server_pid(server.uri, timeout_ms=300) is None
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
    assert server_pid(server.uri) == server.process.pid
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
    assert server_pid(server.uri, timeout_ms=300) is None


def test_a_port_taken_by_another_server_before_ours_binds_it_is_chosen_again(
    servers: list[EmbeddedServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of two launchers: the free port we chose is bound by someone else's server
    first. Its answers must not pass for ours (ours has exited on its bind)."""
    other = start(servers, tmp_path / "other")
    assert other.port is not None
    assert other.process is not None
    chosen = iter([other.port])
    real_free_port = embedded._free_port
    monkeypatch.setattr(
        embedded, "_free_port", lambda host: next(chosen, None) or real_free_port(host)
    )

    server = start(servers, tmp_path / "db")

    assert server.process is not None
    assert server.port != other.port
    assert server_pid(server.uri) == server.process.pid
    assert server_pid(other.uri) == other.process.pid
    assert state_of(tmp_path / "db")["port"] == server.port


def test_a_requested_port_held_by_another_server_is_an_error_naming_it(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    other = start(servers, tmp_path / "other")
    assert other.process is not None
    server = EmbeddedServer(tmp_path / "db", port=other.port, startup_timeout=30)
    servers.append(server)

    with pytest.raises(DatabaseUnavailable, match=f"pid {other.process.pid}"):
        server.start()

    assert server.process is None
    assert not (tmp_path / "db" / STATE_FILE).exists()
    assert server_pid(other.uri) == other.process.pid


def test_a_requested_port_held_by_any_other_listener_is_an_error(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = EmbeddedServer(tmp_path / "db", port=listener.getsockname()[1])
        servers.append(server)

        with pytest.raises(DatabaseUnavailable, match="another process holds it"):
            server.start()

    assert server.process is None


def test_a_state_file_whose_port_another_server_answers_is_not_attached_to(
    servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    """A live pid (ours here) and a port that answers are not enough: the answer must come
    from that pid, or the state file is stale (the pid reused, the port someone else's)."""
    other = start(servers, tmp_path / "other")
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    (data_dir / STATE_FILE).write_text(
        json.dumps({"pid": os.getpid(), "port": other.port, "host": "127.0.0.1"})
    )

    server = start(servers, data_dir)

    assert server.owner
    assert server.process is not None
    assert server.port != other.port
    assert state_of(data_dir)["pid"] == server.process.pid
