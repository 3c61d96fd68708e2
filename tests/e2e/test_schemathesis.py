"""Schemathesis against the app's own OpenAPI schema: every operation, every check.

It runs on an app of its own (it creates data at random and must not disturb
the session's app), with an admin token and with a user token; signing out,
which ends the token the rest of a run uses, gets a run of its own. Every
check runs (Schemathesis's default; a `--checks` option would also override
the per-operation setting in `schemathesis.toml`): no 5xx, every status code,
header and body as the schema says, schema-valid requests accepted and
schema-violating ones refused, except one check on one operation, for the
reason given in `schemathesis.toml`.

The seed rotates by day (`SEED`, the UTC date as YYYYMMDD): each day's runs
explore other examples, few per operation so the suite stays short, and a
failure names its seed, so it reproduces with the same command. Run it with
more `--max-examples` to explore further.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Api, AppProcess, Mailroom, app_environment, new_client

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
ADMIN_EMAIL = "fuzz-admin@example.com"
ADMIN_PASSWORD = f"fuzz-admin-{uuid.uuid4().hex}"


FUZZ_DATABASE = f"e2e_fuzz_{uuid.uuid4().hex[:16]}"


FUZZ_MAIL_DIR: list[Path] = []
"""Where the fuzzed app's worker writes its e-mails (set by its fixture)."""


@pytest.fixture(scope="module")
def fuzzed_app(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("e2e-schemathesis")
    FUZZ_MAIL_DIR[:] = [workdir / "data" / "mail"]
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=FUZZ_DATABASE,
        data_dir=workdir / "data",
        extra={"MONGOSHOP_ADMIN_EMAIL": ADMIN_EMAIL, "MONGOSHOP_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    process = AppProcess(env, workdir)
    try:
        yield process.start()
    finally:
        process.stop()


def token_for(base_url: str, mongodb_uri: str, principal: str) -> str:
    mail = Mailroom(mongodb_uri, FUZZ_DATABASE, FUZZ_MAIL_DIR[0])
    try:
        with new_client(base_url) as client:
            api = Api(client, mail)
            if principal == "admin":
                return api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            return api.new_account("Fuzz User").token
    finally:
        mail.close()


SEED = int(datetime.now(UTC).strftime("%Y%m%d"))
"""Today's seed: the same all day (a failure reproduces), another tomorrow."""

RUNS = {
    "admin": ("admin", ["--exclude-path", "/auth/logout"]),
    "user": ("user", ["--exclude-path", "/auth/logout"]),
    # One operation alone: no link can lead anywhere, so no stateful phase.
    "sign-out": (
        "user",
        ["--include-path", "/auth/logout", "--phases", "examples,coverage,fuzzing"],
    ),
}


@pytest.mark.parametrize("run", RUNS)
def test_the_api_keeps_its_contract_under_fuzzing(
    fuzzed_app: str, run: str, tmp_path: Path, mongodb_uri: str
) -> None:
    principal, selection = RUNS[run]
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{fuzzed_app}/openapi.json",
        "--max-examples",
        "20",
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    token = token_for(fuzzed_app, mongodb_uri, principal)
    command += ["--header", f"Authorization: Bearer {token}"]
    command += selection

    result = subprocess.run(command, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, (
        f"schemathesis --seed {SEED} ({run}):\n" + result.stdout[-20_000:] + result.stderr[-5_000:]
    )
    assert "Tested:" in result.stdout, result.stdout
    with httpx.Client(base_url=fuzzed_app) as client:
        assert client.get("/health").status_code == 200  # and it is still standing
