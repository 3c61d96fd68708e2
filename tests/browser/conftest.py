"""Browser tests: the admin dashboard in a real Chromium, driven by Playwright.

The browser is the system's Chromium (Debian's ``chromium``: ``/usr/bin/chromium``,
or the path in MONGOSHOP_CHROMIUM); Playwright downloads none. Without it these
tests FAIL, saying how to install it: they never skip, so CI always runs them
(``scripts/test`` installs it).

The app is the e2e tier's ``mongoshop serve`` fixture, imported here: these tests
get an app and a database of their own, so the figures they compare are theirs.
Screenshots go to MONGOSHOP_TEST_ARTIFACTS (default: ``test-artifacts/`` at the
repository root), and their paths are listed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    sync_playwright,
)

from tests.e2e.conftest import RunningApp, admin_headers, admin_token, api, app, client, mail

__all__ = ["admin_headers", "admin_token", "api", "app", "client", "mail"]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
ARTIFACTS_VARIABLE = "MONGOSHOP_TEST_ARTIFACTS"
# As the machine's notes advise for a closed network: no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000

_saved_artifacts: list[Path] = []


def chromium_executable() -> str:
    configured = os.environ.get("MONGOSHOP_CHROMIUM")
    candidate = configured or shutil.which("chromium") or DEFAULT_CHROMIUM
    if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {candidate!r}: the browser tests need it. Install it "
            "with `apt-get install -y chromium` (scripts/test does this as root), or point "
            "MONGOSHOP_CHROMIUM at a Chromium or Chrome binary.",
            pytrace=False,
        )
    return candidate


def artifacts_directory() -> Path:
    configured = os.environ.get(ARTIFACTS_VARIABLE)
    directory = Path(configured) if configured else ROOT / "test-artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# Package scope, not session: Playwright's sync API holds an event loop in this thread
# while it runs, and the async tests of the other tiers need the thread without one.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class Tab:
    """A page of the dashboard, with what it logged and what it tried to reach elsewhere."""

    page: Page
    origin: str
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    api_paths: list[str] = field(default_factory=list)

    def assert_clean(self, *, allowed_statuses: tuple[int, ...] = ()) -> None:
        """No console error (but the browser's own line for an expected HTTP status),
        no uncaught exception, and no request to another origin."""
        unexpected = [
            text
            for text in self.console_errors
            if not any(f"status of {status}" in text for status in allowed_statuses)
        ]
        assert unexpected == [], f"console errors: {unexpected}"
        assert self.foreign_requests == [], f"requests to other origins: {self.foreign_requests}"

    def screenshot(self, name: str) -> Path:
        path = artifacts_directory() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        _saved_artifacts.append(path)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def tab(browser: Browser, app: RunningApp) -> Iterator[Tab]:
    """A fresh browser context (empty sessionStorage) on the app, watched."""
    origin = app.base_url
    context = browser.new_context(base_url=origin, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = Tab(page, origin)

    def route(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            watched.foreign_requests.append(url)
            route.abort()
            return
        watched.api_paths.append(parts.path)
        route.continue_()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: watched.console_errors.append(f"uncaught: {error}"))
    try:
        yield watched
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _saved_artifacts:
        terminalreporter.section("browser test artifacts")
        for path in _saved_artifacts:
            terminalreporter.write_line(str(path))
