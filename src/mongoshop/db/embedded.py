"""The embedded database: SecantusDB run as a separate process when no URI is set.

A separate process keeps the server off our GIL and its GPL licence at arm's
length: we only ever speak the MongoDB wire protocol to it, like to any mongod.

Several mongoshop commands may share one data directory (``mongoshop seed``
while ``mongoshop serve`` runs). The first one starts the server and writes
``embedded.json`` (pid, port) into the data directory; the others find it
there, check that this pid is the server answering on that port, and connect
instead of fighting over the storage lock. Only the process that started the
server stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongoshop.errors import ConfigurationError, DatabaseUnavailable
from mongoshop.settings import Settings

logger = logging.getLogger(__name__)

STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
LOG_FILE = "secantusd.log"
STORAGE_DIR = "secantus"
PORT_ATTEMPTS = 3
"""Ports tried when the one we chose is taken before our server binds it."""
ADDRESS_IN_USE = "address already in use"
RESTART_STOP_TIMEOUT = 10.0
"""Seconds a stalled server gets to stop on SIGTERM before it is killed (nothing it
acknowledged is lost either way: it syncs every commit)."""


def uri_for(port: int, host: str = "127.0.0.1") -> str:
    """A direct connection: we never rely on the embedded replica-set name."""
    return f"mongodb://{host}:{port}/?directConnection=true"


def server_pid(uri: str, timeout_ms: int = 1000) -> int | None:
    """The process id the server at `uri` reports (``serverStatus``'s ``pid``; 0 when it
    reports none), or None when nothing answers.

    Which server answers a port, not only whether one does: between our choice of a
    free port and our server's bind, another process may take the port, and a ping
    would then be answered by someone else's database while ours has exited.
    """
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        status = client.admin.command("serverStatus")
    except PyMongoError:
        return None
    finally:
        client.close()
    pid = status.get("pid")
    return pid if isinstance(pid, int) else 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_command() -> list[str]:
    """The launcher installed with the SecantusDB package, next to our interpreter."""
    beside = Path(sys.executable).with_name("secantusd-py")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("secantusd-py")
    if found is None:
        raise ConfigurationError(
            "secantusd-py not found: install the SecantusDB package or set MONGODB_URI"
        )
    return [found]


class EmbeddedServer:
    """Start (or find) the embedded server for one data directory.

    Use as a context manager: on exit, the server is stopped if this object
    started it, and left running if it was found running.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = host
        self.requested_port = port
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def owner(self) -> bool:
        """True when this object started the server (and so must stop it)."""
        return self.process is not None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise RuntimeError("embedded server not started")
        return uri_for(self.port, self.host)

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def start(self) -> str:
        """Attach to the running server for this data directory, or start one."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            running = self._running_port()
            if running is not None:
                self.port = running
                logger.info("using the embedded database already running on port %d", running)
                return self.uri
            self._spawn()
        return self.uri

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server if we started it: SIGTERM, then SIGKILL after `timeout`."""
        process, self.process = self.process, None
        if process is None:
            return
        with self._locked():
            self._terminate(process, timeout)
        logger.info("embedded database stopped")

    def _terminate(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("embedded database did not stop in %.0fs; killing it", timeout)
                process.kill()
                process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / STATE_FILE).unlink()

    def restart(self) -> None:
        """Stop the server this object started and start it again, on the same port and data.

        What ends a stall of the server's writes (`mongoshop.worker.write_watch`):
        every write it acknowledged is on disk (``--sync-on-commit``), and clients
        reconnect to the same address on their own.
        """
        process = self.process
        if process is None or self.port is None:
            raise RuntimeError("this process did not start the embedded server")
        self.requested_port = self.port
        with self._locked():  # no other command starts a server on this data meanwhile
            self._terminate(process, RESTART_STOP_TIMEOUT)
            self.process = None
            self._spawn()

    def wait(self) -> int:
        """Block until the server we started exits; its exit code."""
        if self.process is None:
            raise RuntimeError("this process did not start the embedded server")
        return self.process.wait()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop decisions between processes sharing the data directory."""
        with open(self.data_dir / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _running_port(self) -> int | None:
        state_path = self.data_dir / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if _pid_alive(pid) and server_pid(uri_for(port, self.host)) == pid:
            return port
        logger.info("removing stale %s (pid %d is gone or not answering)", STATE_FILE, pid)
        with contextlib.suppress(FileNotFoundError):
            state_path.unlink()
        return None

    def _spawn(self) -> None:
        """Start a server; a port we chose that another process took before our server
        bound it is chosen again (a port asked for is not: that is an error)."""
        for attempt in range(PORT_ATTEMPTS):
            port = self.requested_port or _free_port(self.host)
            holder = self._launch(port)
            if holder is None:
                return
            if self.requested_port is not None or attempt == PORT_ATTEMPTS - 1:
                raise DatabaseUnavailable(
                    f"the embedded database could not listen on port {port}: {holder} holds it"
                )
            logger.warning("port %d was taken by %s meanwhile; choosing another", port, holder)

    def _launch(self, port: int) -> str | None:
        """Start the server on `port` and wait until it is the one answering there; None
        then, or what holds the port instead (our server has exited or been stopped)."""
        storage = self.data_dir / STORAGE_DIR
        command = [
            *daemon_command(),
            "--storage-path",
            str(storage),
            "--host",
            self.host,
            "--port",
            str(port),
            "--sync-on-commit",
            "--log-level",
            "WARNING",
            *self.extra_args,
        ]
        logger.info("starting the embedded database: %s", " ".join(command))
        with open(self.log_path, "ab") as log:
            written_before = log.tell()
            # cwd is the data directory so that no stray ./secantusd.toml is picked up;
            # a new session so that a Ctrl-C in our terminal reaches us, and we stop it in order.
            process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.process = process
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.process = None
                output = self._log_since(written_before)
                if ADDRESS_IN_USE in output.lower():
                    return "another process"
                tail = "\n".join(output.splitlines()[-15:])
                raise DatabaseUnavailable(
                    f"the embedded database exited on start-up; see {self.log_path}:\n{tail}"
                )
            answering = server_pid(self.uri, timeout_ms=500)
            if answering == process.pid:
                break
            if answering is not None:  # someone else's server: ours cannot bind the port
                self.process = None
                process.kill()
                process.wait()
                return f"another database server (pid {answering})"
            time.sleep(0.1)
        else:
            process.kill()
            process.wait()
            self.process = None
            raise DatabaseUnavailable(
                f"the embedded database did not answer within {self.startup_timeout:.0f}s;"
                f" see {self.log_path}"
            )
        state = {"pid": process.pid, "port": port, "host": self.host}
        tmp = self.data_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.data_dir / STATE_FILE)
        logger.info("embedded database listening on %s:%d (pid %d)", self.host, port, state["pid"])
        return None

    def _log_since(self, offset: int) -> str:
        """What the server wrote to its log after `offset` (the log is appended to)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def resolve_uri(settings: Settings) -> Iterator[str]:
    """The URI to connect to: the configured one, or the embedded server's.

    The embedded server started here is stopped when the block exits.
    """
    if settings.mongodb_uri:
        yield settings.mongodb_uri
        return
    with EmbeddedServer(settings.data_dir) as server:
        yield server.uri
