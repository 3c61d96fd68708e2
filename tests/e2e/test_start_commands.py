"""The README's start command for real: `mongoshop serve` on the embedded database with demo
data, a second command sharing its database, the worker's mail, and a clean stop and restart.

These run their own embedded server in a temporary data directory (as a newcomer would).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from .support import AppProcess, mongoshop_command

STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0


def _environment(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONGOSHOP_", "MONGODB_"))
    }
    env["MONGOSHOP_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[AppProcess]:
    """``mongoshop serve`` as a newcomer runs it: demo data, its embedded database in
    ``data``."""
    app = AppProcess(
        _environment(tmp_path / "data"), tmp_path, demo=True, startup_timeout=STARTUP_TIMEOUT
    )
    yield app
    app.stop(STOP_TIMEOUT)  # the test failed midway: stop it cleanly all the same


def _wait_for_file(directory: Path, pattern: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not list(directory.glob(pattern)):
        time.sleep(0.2)
    found = list(directory.glob(pattern))
    assert found, f"no {pattern} in {directory}"
    return found[0]


def _text_of(eml: Path) -> str:
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",))
    assert text is not None
    return str(text.get_content())


def _credentials(output: str) -> tuple[str, str]:
    """The demo admin's e-mail from serve's output, its password from the file it names:
    never printed (issue 21: a console is often a log others read)."""
    found = re.search(r"demo admin: (\S+) \(password in (.+), readable by you only\)", output)
    assert found, output
    saved = Path(found.group(2))
    assert saved.stat().st_mode & 0o077 == 0, "only its owner may read it"
    password = json.loads(saved.read_text())["password"]
    assert password not in output
    return found.group(1), password


def test_serve_starts_everything_with_demo_data_shares_its_database_and_restarts(
    served: AppProcess, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    served.start()
    output = served.output()
    assert f"mongoshop API: {served.base_url}" in output
    email, password = _credentials(output)
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        login = client.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        products = client.get("/admin/stats/products", headers=admin).json()
        assert products["totals"]["count"] > 0
        sales = client.get(
            "/admin/analytics/sales",
            headers=admin,
            params={"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
        ).json()
        assert sales["summary"]["orders_count"] > 0
        fresh = {**admin, "Cache-Control": "no-cache"}
        users_before = client.get("/admin/stats/users", headers=fresh).json()["total"]

        # A second command on the same data directory attaches to the running database.
        seeded = subprocess.run(
            [
                str(mongoshop_command()),
                "seed",
                "--users",
                "5",
                "--products",
                "0",
                "--orders",
                "0",
                "--seed",
                "99",
            ],
            cwd=served.workdir,
            env=_environment(data_dir),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        assert "users: 5 inserted" in seeded.stdout

        # The in-process worker writes each e-mail as an .eml file: first the code that
        # confirms the address, then, once it is used, the welcome.
        created = client.post(
            "/auth/register",
            json={"name": "New Comer", "email": "newcomer@example.com", "password": "password1"},
        )
        assert created.status_code == 202
        mail = data_dir / "mail"
        verification = _wait_for_file(mail, "verify_email*newcomer*.eml")
        code = re.search(r"^([A-Za-z0-9_-]{40,})\r?$", _text_of(verification), re.MULTILINE)
        assert code is not None, "no code in the verification e-mail"
        verified = client.post("/auth/verify", json={"token": code.group(1)})
        assert verified.status_code == 200, verified.text
        welcome = _wait_for_file(mail, "welcome*newcomer*.eml")
        assert "newcomer@example.com" in welcome.read_text()

    served.stop(STOP_TIMEOUT)
    state = data_dir / "embedded.json"
    assert not state.exists(), "the embedded database was not stopped"

    served.start()
    output = served.output()
    assert _credentials(output) == (email, password)
    assert " inserted" not in output  # no second seeding: the data survived the restart
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        login = client.post("/auth/login", json={"email": email, "password": password})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        fresh = {**admin, "Cache-Control": "no-cache"}
        total = client.get("/admin/stats/users", headers=fresh).json()["total"]
        assert total == users_before + 5 + 1
    served.stop(STOP_TIMEOUT)


def test_db_start_runs_only_the_database_and_other_commands_use_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _environment(data_dir)
    log = tmp_path / "db.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(mongoshop_command()), "db", "start"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        state = data_dir / "embedded.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not state.exists():
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        assert state.exists(), log.read_text()
        port = json.loads(state.read_text())["port"]

        init = subprocess.run(
            [str(mongoshop_command()), "db", "init"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        assert "users: " in init.stdout
        assert f"already running on port {port}" in init.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert not (data_dir / "embedded.json").exists()
