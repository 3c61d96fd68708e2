"""`mongoshop worker --metrics-port`: the standalone worker's stream lag and outbox, scraped."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
from pymongo import MongoClient

from mongoshop._sync.shop import Shop
from mongoshop.models.common import Document
from mongoshop.settings import Settings

from .conftest import WORKER, Launch, SmtpServer, free_port, wait_for, worker_env
from .test_worker_mail import register, wait_until_watching

METRICS_TOKEN = "worker-metrics-token-0123456789"


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from the Prometheus text format, or None."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_a_standalone_worker_serves_its_stream_lag_and_the_outbox_behind_a_token(
    shop: Shop,
    settings: Settings,
    mongodb_uri: str,
    sync_client: MongoClient[Document],
    smtp: SmtpServer,
    workers: Launch,
    tmp_path: Path,
) -> None:
    env = worker_env(
        settings, mongodb_uri, tmp_path, smtp.port, MONGOSHOP_METRICS_TOKEN=METRICS_TOKEN
    )
    port = free_port()
    worker = workers(env, "--metrics-port", str(port))
    wait_until_watching(sync_client, settings.mongodb_database)
    emails = register(shop, "metrics", 0, 5)
    wait_for(lambda: set(smtp.mailbox.per_recipient()) >= set(emails), 60, "welcomes sent")

    url = f"http://127.0.0.1:{port}/metrics"
    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401

    def scrape() -> str:
        response = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    wait_for(
        lambda: sample(scrape(), "mongoshop_mail_outbox_items", status="sent") == 5,
        30,
        "the outbox gauge never showed the 5 sent e-mails",
    )
    text = scrape()
    assert sample(text, "mongoshop_mail_outbox_items", status="pending") == 0
    for stream in ("users", "orders", "products", "ledger"):
        lag = sample(text, "mongoshop_change_stream_lag_seconds", stream=stream)
        assert lag is not None, text
        assert 0 <= lag < 30
    commands = sample(text, "mongoshop_db_command_duration_seconds_count", command="insert")
    assert commands is not None
    assert commands >= 1  # the outbox inserts (in one batch, or more), at least
    assert worker.terminate() == 0
    log = worker.log.read_text()
    assert f"metrics: http://127.0.0.1:{port}/metrics" in log


def test_a_metrics_port_in_use_is_a_one_line_error(
    settings: Settings, mongodb_uri: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    env = worker_env(settings, mongodb_uri, tmp_path, smtp.port)
    taken = smtp.port  # the SMTP server listens there
    result = subprocess.run(
        [str(WORKER), "worker", "--metrics-port", str(taken)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{taken}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
