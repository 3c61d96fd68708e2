"""Request ids, JSON logs and /metrics, seen from outside a running ``mongoshop serve``.

The session's app runs with the defaults (text logs, /metrics open). This module
also starts an app of its own with ``MONGOSHOP_LOG_FORMAT=json``, every database
command "slow" (``MONGOSHOP_SLOW_COMMAND_MS=0``, so each is logged at WARNING)
and a metrics token, and reads the log lines it writes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from mongoshop.models.common import Document
from tests.e2e.conftest import RunningApp
from tests.e2e.support import Api, AppProcess, app_environment, bearer, new_client, unique_email

STREAMS = {"cache", "users", "orders", "products", "ledger"}
"""Every change stream `serve` opens: the API's cache invalidation, and one per collection
the worker reacts to (users and orders feed the mail and the webhooks alike)."""
HEX = set("0123456789abcdef")


@dataclass
class JsonApp:
    process: AppProcess
    client: httpx.Client
    database: str
    metrics_token: str

    def log_entries(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (the serve banner before uvicorn is plain text)."""
        entries = []
        for line in self.process.log().splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def entries_for(
        self, request_id: str, until: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        """The lines of one request, once `until` holds for them (the log is written async)."""
        deadline = time.monotonic() + 10
        while True:
            found = [e for e in self.log_entries() if e.get("request_id") == request_id]
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture(scope="module")
def json_app(
    mongodb_uri: str, sync_client: MongoClient[Document], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JsonApp]:
    workdir = tmp_path_factory.mktemp("e2e-json-app")
    database = f"e2e_obs_{uuid.uuid4().hex[:16]}"
    token = uuid.uuid4().hex
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=database,
        data_dir=workdir / "data",
        extra={
            "MONGOSHOP_LOG_FORMAT": "json",
            "MONGOSHOP_SLOW_COMMAND_MS": "0",
            "MONGOSHOP_METRICS_TOKEN": token,
        },
    )
    process = AppProcess(env, workdir)
    try:
        base_url = process.start()
        with new_client(base_url) as client:
            yield JsonApp(process, client, database, token)
    finally:
        process.stop()
        sync_client.drop_database(database)


def scrape(client: httpx.Client, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``GET /metrics`` parsed: {(sample name, frozenset of labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[Any, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def labelled(samples: dict[Any, float], name: str, label: str) -> dict[str, float]:
    return {
        dict(labels)[label]: found for (sample, labels), found in samples.items() if sample == name
    }


# --- request ids ------------------------------------------------------------------------------


def test_a_sane_request_id_from_the_client_is_returned(client: httpx.Client) -> None:
    response = client.get("/health", headers={"X-Request-ID": "lb-7f3a.42:retry_1"})
    assert response.headers["x-request-id"] == "lb-7f3a.42:retry_1"


def test_every_answer_gets_a_new_request_id_when_the_client_sends_none(
    client: httpx.Client,
) -> None:
    ids = set()
    for path in ("/health", "/health", "/no/such/route", "/users/me"):
        response = client.get(path)
        request_id = response.headers["x-request-id"]
        assert len(request_id) == 32
        assert set(request_id) <= HEX
        ids.add(request_id)
    assert len(ids) == 4


@pytest.mark.parametrize("sent", ["has spaces", "x" * 65, "semi;colon", "<script>"])
def test_an_unfit_request_id_is_replaced(client: httpx.Client, sent: str) -> None:
    returned = client.get("/health", headers={"X-Request-ID": sent}).headers["x-request-id"]
    assert returned != sent
    assert len(returned) == 32


# --- JSON logs --------------------------------------------------------------------------------


def test_json_logs_carry_the_request_id_into_the_access_log_and_database_commands(
    json_app: JsonApp,
) -> None:
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    email = unique_email("needle")
    password = f"pw-{uuid.uuid4().hex}"
    response = json_app.client.post(
        "/auth/register",
        json={"name": "Needle Person", "email": email, "password": password},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == request_id

    def complete(found: list[dict[str, Any]]) -> bool:
        loggers = {entry["logger"] for entry in found}
        return {"uvicorn.access", "mongoshop.db.commands"} <= loggers

    entries = json_app.entries_for(request_id, complete)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert len(access) == 1
    assert "POST /auth/register" in access[0]["message"]
    assert access[0]["level"] == "INFO"

    commands = [e for e in entries if e["logger"] == "mongoshop.db.commands"]
    inserts = [e for e in commands if e["command"] == "insert" and e["collection"] == "users"]
    assert inserts, commands
    for entry in commands:
        assert entry["level"] == "WARNING"  # every command is "slow" at a 0 ms threshold
        assert entry["database"] in {json_app.database, "admin"}
        assert isinstance(entry["duration_ms"], int | float)
        assert entry["message"].startswith("slow database command ")
    for entry in entries:  # nothing of what the client sent reaches the log
        line = json.dumps(entry)
        assert email not in line
        assert password not in line
        assert "Needle Person" not in line


def test_once_uvicorn_runs_every_output_line_is_a_json_log_record(json_app: JsonApp) -> None:
    json_app.client.get("/health")
    lines = json_app.process.log().splitlines()
    started = [
        n for n, line in enumerate(lines) if line.startswith("{") and "Uvicorn running on" in line
    ]
    assert started, "uvicorn's start-up line is not a JSON record"
    for line in lines[started[0] :]:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_never_by_raw_path(
    client: httpx.Client, api: Api, app: RunningApp
) -> None:
    account = api.new_account("Metered User")
    for _ in range(3):
        assert client.get(f"/users/{account.id}", headers=account.headers).status_code == 200
    stray = uuid.uuid4().hex
    client.get(f"/no/such/{stray}")

    samples = scrape(client)
    route = "/users/{user_id}"
    count = value(samples, "mongoshop_http_requests_total", route=route, method="GET", status="200")
    assert count is not None
    assert count >= 3
    latency_count = value(
        samples,
        "mongoshop_http_request_duration_seconds_count",
        route=route,
        method="GET",
        status="200",
    )
    assert latency_count == count
    routes = labelled(samples, "mongoshop_http_requests_total", "route")
    assert "unmatched" in routes
    assert not any(account.id in r or stray in r for r in routes)


def test_metrics_time_database_commands_by_name(client: httpx.Client) -> None:
    samples = scrape(client)
    commands = labelled(samples, "mongoshop_db_command_duration_seconds_count", "command")
    assert commands.get("find", 0) > 0
    assert commands.get("insert", 0) > 0
    assert value(samples, "mongoshop_db_command_duration_seconds_sum", command="find") > 0  # type: ignore[operator]


def test_metrics_show_the_mail_outbox_by_status(client: httpx.Client, api: Api) -> None:
    api.new_account("Welcome Me")  # a welcome e-mail goes through the outbox
    deadline = time.monotonic() + 20
    while True:
        outbox = labelled(scrape(client), "mongoshop_mail_outbox_items", "status")
        if sum(outbox.values()) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert set(outbox) == {"pending", "sent", "failed"}
    assert sum(outbox.values()) >= 1


def test_metrics_show_a_small_lag_for_every_change_stream(client: httpx.Client) -> None:
    deadline = time.monotonic() + 15
    while True:
        lags = labelled(scrape(client), "mongoshop_change_stream_lag_seconds", "stream")
        if set(lags) >= STREAMS or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert set(lags) == STREAMS, "one stream per collection (and the cache's), no more"
    for stream, lag in lags.items():
        assert 0 <= lag < 30, (stream, lag)


def test_metrics_stay_out_of_the_openapi_document(client: httpx.Client) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_with_a_metrics_token_the_scrape_needs_it(json_app: JsonApp) -> None:
    assert json_app.client.get("/metrics").status_code == 401
    wrong = json_app.client.get("/metrics", headers=bearer("not-the-metrics-token"))
    assert wrong.status_code == 401
    samples = scrape(json_app.client, bearer(json_app.metrics_token))
    assert labelled(samples, "mongoshop_mail_outbox_items", "status")
