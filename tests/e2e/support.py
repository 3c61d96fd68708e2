"""What the end-to-end tests share: the app process, the HTTP client and its invariants.

The app is started the way an operator starts it, with the ``mongoshop``
console script (``mongoshop serve``), configured only through its environment.
Every response the tests receive goes through `check_response`, so the
invariants that hold for all of them (no 500, no traceback, no password
material, one shape of error body) are asserted on every request, not only in
the tests that think of them.

And what the commerce tests share: products, wallets and orders over real HTTP,
through the session's `httpx.Client` (so each answer is still checked by
`check_response`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
HEX24 = "0123456789abcdef"

PUBLIC_USER_FIELDS = {
    "id",
    "name",
    "email",
    "age",
    "status",
    "roles",
    "preferences",
    "created_at",
    "updated_at",
    "last_login",
    "login_count",
    "email_verified",
}
SECRET_KEYS = {"password", "password_hash", "search_tokens"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on `port` (from Linux's /proc).

    A ``/health`` answered on a port we chose may come from another test's app that
    took the port between our choice and our bind (our app then exits on its bind):
    the answer alone would send this test to someone else's app and database.
    """
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    listening.add(f"socket:[{inode}]")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(descriptor) in listening:
                    return True
    return False


def unique(prefix: str = "u") -> str:
    """A short unique word (letters and digits only, so it is one search token)."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def unique_email(prefix: str = "user") -> str:
    return f"{unique(prefix)}@e2e.example.com"


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 24 and all(c in HEX24 for c in value)


def mongoshop_command() -> Path:
    """The console script installed next to the interpreter running the tests."""
    return Path(sys.executable).with_name("mongoshop")


def _keys(value: Any) -> set[str]:
    """Every key of every object in a JSON value."""
    if isinstance(value, dict):
        found = set(value)
        for item in value.values():
            found |= _keys(item)
        return found
    if isinstance(value, list):
        found = set()
        for item in value:
            found |= _keys(item)
        return found
    return set()


def check_response(response: httpx.Response, *, allow_unavailable: bool = False) -> None:
    """The invariants of every answer of the API."""
    response.read()
    request = response.request
    where = f"{request.method} {request.url.path} -> {response.status_code}"
    text = response.text
    assert "Traceback" not in text, f"{where}: a traceback leaked: {text[:2000]}"
    if allow_unavailable:
        assert response.status_code < 500 or response.status_code == 503, f"{where}: {text[:500]}"
    else:
        assert response.status_code < 500, f"{where}: {text[:2000]}"
    if request.url.path == "/openapi.json":
        return
    content_type = response.headers.get("content-type", "")
    body: Any = None
    if content_type.startswith("application/json") and response.content:
        body = response.json()
        leaked = _keys(body) & SECRET_KEYS
        assert not leaked, f"{where}: the answer carries {sorted(leaked)}"
    if response.status_code < 400:
        # (An error may name a field the client sent; a success never names these.)
        assert "password_hash" not in text, where
        assert "search_tokens" not in text, where
    if response.status_code >= 400 and request.url.path != "/health":
        assert content_type.startswith("application/json"), f"{where}: {content_type}"
        assert isinstance(body, dict), f"{where}: {text[:500]}"
        assert set(body) == {"error", "detail"}, f"{where}: {body}"
        assert isinstance(body["error"], str), f"{where}: {body}"
        assert body["error"], f"{where}: {body}"
        assert isinstance(body["detail"], str), f"{where}: {body}"
        assert body["detail"], f"{where}: {body}"
    if response.status_code == 401:
        assert response.headers.get("www-authenticate") == "Bearer", where


def new_client(
    base_url: str, *, allow_unavailable: bool = False, timeout: float = 30.0
) -> httpx.Client:
    def hook(response: httpx.Response) -> None:
        check_response(response, allow_unavailable=allow_unavailable)

    return httpx.Client(base_url=base_url, timeout=timeout, event_hooks={"response": [hook]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    """A registered, signed-in user."""

    id: str
    email: str
    password: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


CODE = re.compile(r"^([A-Za-z0-9_-]{40,})\r?$", re.MULTILINE)
"""A verification code, alone on its line in the e-mail's text."""


def verification_code(found: Mapping[str, Any] | None, mail_dir: Path) -> str | None:
    """The code of this outbox item, as its recipient reads it: from the item's text while
    it waits to be sent, from the sent ``.eml`` once sent (the outbox keeps no code then)."""
    if found is None:
        return None
    match = CODE.search(found["text"])
    if match is not None:
        return match.group(1)
    eml = mail_dir / (re.sub(r"[^\w.@-]", "_", str(found["_id"])) + ".eml")
    try:
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    except FileNotFoundError:
        return None
    body = message.get_body(("plain",))
    match = CODE.search(str(body.get_content())) if body is not None else None
    return match.group(1) if match is not None else None


class Mailroom:
    """Reads the app's outgoing e-mail as its recipient would: the outbox, or the ``.eml``
    files its worker wrote to `mail_dir` (``<data dir>/mail``)."""

    def __init__(self, mongodb_uri: str, database: str, mail_dir: Path) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)
        self.outbox = self.client[database]["mail_outbox"]
        self.mail_dir = mail_dir

    def code_for(self, email: str, timeout: float = 10.0) -> str:
        """The code of the latest verification e-mail to `email`."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.outbox.find_one(
                {"kind": "verify_email", "to": email.lower()}, sort=[("created_at", -1)]
            )
            code = verification_code(found, self.mail_dir)
            if code is not None:
                return code
            assert time.monotonic() < deadline, f"no verification e-mail to {email}"
            time.sleep(0.05)

    def kinds_to(self, email: str) -> list[str]:
        return [
            str(item["kind"])
            for item in self.outbox.find({"to": email.lower()}).sort("created_at", 1)
        ]

    def close(self) -> None:
        self.client.close()


class Api:
    """Small helpers over the HTTP API; every call still goes through real HTTP."""

    def __init__(self, client: httpx.Client, mail: Mailroom | None = None) -> None:
        self.client = client
        self.mail = mail

    def register(self, *, verify: bool = True, **fields: Any) -> dict[str, Any]:
        """Register, and (with a `Mailroom`) confirm the address with the mailed code, as
        a person would; answers the account (or, unconfirmed, the registration's answer)."""
        body = {
            "name": fields.pop("name", "E2E User"),
            "email": fields.pop("email", None) or unique_email(),
            "password": fields.pop("password", "correct-horse-1"),
            **fields,
        }
        response = self.client.post("/auth/register", json=body)
        assert response.status_code == 202, response.text
        if not verify or self.mail is None:
            answer: dict[str, Any] = response.json()
            return answer
        return self.verify(self.mail.code_for(body["email"]))

    def verify(self, code: str) -> dict[str, Any]:
        response = self.client.post("/auth/verify", json={"token": code})
        assert response.status_code == 200, response.text
        user: dict[str, Any] = response.json()
        return user

    def login(self, email: str, password: str) -> str:
        response = self.client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def new_account(self, name: str = "E2E User", **fields: Any) -> Account:
        """A registered, confirmed (needs a `Mailroom`) and signed-in user."""
        assert self.mail is not None, "a new account needs the app's Mailroom to confirm it"
        email = fields.pop("email", None) or unique_email()
        password = fields.pop("password", "correct-horse-1")
        created = self.register(name=name, email=email, password=password, **fields)
        return Account(
            id=created["id"],
            email=created["email"],
            password=password,
            name=created["name"],
            token=self.login(email, password),
        )

    def me(self, token: str) -> httpx.Response:
        return self.client.get("/users/me", headers=bearer(token))


class AppProcess:
    """``mongoshop serve`` as a subprocess, its output in a log file."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        args: Sequence[str] = (),
        *,
        demo: bool = False,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        """`args`: more options of ``mongoshop serve`` (``--no-worker``); `demo`: let it
        create its demo data (as a newcomer's ``serve`` does)."""
        self.env = dict(env)
        self.workdir = workdir
        self.args = list(args)
        self.demo = demo
        self.startup_timeout = startup_timeout
        self.log_path = workdir / "app.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._output_from = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        """What the latest start wrote (the log is appended to across restarts)."""
        return self.log()[self._output_from :]

    def start(self, attempts: int = 3) -> str:
        """Start and wait for ``GET /health`` == 200; a port taken meanwhile is retried."""
        for attempt in range(attempts):
            self.port = free_port()
            if self._spawn_and_wait():
                return self.base_url
            if "address already in use" not in self.output().lower() or attempt == attempts - 1:
                break
        raise RuntimeError(f"mongoshop serve did not become healthy; its output:\n{self.log()}")

    def _spawn_and_wait(self) -> bool:
        command = [
            str(mongoshop_command()),
            "serve",
            *([] if self.demo else ["--no-demo"]),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        self._output_from = len(self.log())
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.process = None
                    return False
                with contextlib.suppress(httpx.HTTPError):
                    if probe.get("/health").status_code == 200 and listens_on(
                        self.process.pid, self.port
                    ):
                        return True
                time.sleep(0.1)
        self.stop()
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash or an OOM kill."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def app_environment(
    *,
    mongodb_uri: str,
    database: str,
    data_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The parent's environment minus any mongoshop configuration, plus ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        # OTEL_*: the trace test switches tracing on for its own processes only.
        if not key.startswith(("MONGOSHOP_", "MONGODB_", "OTEL_"))
    }
    env.update(
        {
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DATABASE": database,
            "MONGOSHOP_TOKEN_SECRET": uuid.uuid4().hex,
            "MONGOSHOP_DATA_DIR": str(data_dir),
            "MONGOSHOP_ENV": "test",
            # Tests register many accounts from 127.0.0.1: the registration throttle is
            # exercised by test_auth on purpose, and must not trip the others.
            "MONGOSHOP_REGISTER_MAX_PER_CLIENT": "10000",
            # The tests read a listing right after changing it and expect the change:
            # with three tiers on two cores a small page may take longer than the
            # default second to compute again, and would be served as last computed
            # (stale-while-revalidate, tested in test_listing_revalidation.py).
            "MONGOSHOP_LISTING_PATIENCE_SECONDS": "4",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def parse_time(text: str) -> datetime:
    """An ISO timestamp from the API as an aware datetime (strings do not compare as times)."""
    return datetime.fromisoformat(text)


CURRENCY = "EUR"
UNKNOWN_ID = "0123456789abcdef01234567"
MALFORMED_IDS = [
    "not-an-id",
    "123",
    "zzzzzzzzzzzzzzzzzzzzzzzz",  # 24 characters, not hexadecimal
    "abcdefghijkl",  # 12 characters: a valid ObjectId to bson, never to us
    "0123456789abcdef012345678",  # 25 hexadecimal characters
    "%24ne",  # "$ne"
]
PAGE_KEYS = {"items", "total", "page", "page_size", "total_pages", "next_after"}
ERROR_KEYS = {"error", "detail"}


def money(amount: int, currency: str = CURRENCY) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def unique_category(prefix: str = "cat") -> str:
    """A category no other test uses, so counts and sums over it are exact."""
    return unique(prefix)


def product_body(
    *,
    name: str | None = None,
    category: str | None = None,
    price: int = 1_000,
    stock: int = 0,
    tags: Iterable[str] = (),
    rating: float = 0.0,
    review_count: int = 0,
    description: str = "",
) -> dict[str, Any]:
    return {
        "name": name or f"Product {unique('p')}",
        "description": description,
        "category": category or unique_category(),
        "price": money(price),
        "tags": list(tags),
        "inventory": {"quantity": stock},
        "reviews": {"rating": rating, "count": review_count},
    }


def create_product(
    client: httpx.Client, admin_headers: Mapping[str, str], **fields: Any
) -> dict[str, Any]:
    """POST /products as the admin; the created product."""
    response = client.post("/products", json=product_body(**fields), headers=dict(admin_headers))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def read_product(client: httpx.Client, product_id: str) -> dict[str, Any]:
    response = client.get(f"/products/{product_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def stock_of(client: httpx.Client, product_id: str) -> int:
    quantity: int = read_product(client, product_id)["inventory"]["quantity"]
    return quantity


def account_of(client: httpx.Client, account: Account) -> dict[str, Any]:
    """GET /accounts/me for `account`."""
    response = client.get("/accounts/me", headers=account.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def balance_of(client: httpx.Client, account: Account) -> int:
    balance = account_of(client, account)["balance"]
    assert balance["currency"] == CURRENCY
    amount: int = balance["amount"]
    return amount


def credit(
    client: httpx.Client,
    admin_headers: Mapping[str, str],
    account_id: str,
    amount: int,
    reason: str = "e2e funding",
) -> httpx.Response:
    return client.post(
        f"/accounts/{account_id}/credit",
        json={"amount": amount, "currency": CURRENCY, "reason": reason},
        headers=dict(admin_headers),
    )


def fund(
    client: httpx.Client, admin_headers: Mapping[str, str], account: Account, amount: int
) -> str:
    """Credit `account`'s wallet with `amount`; its account id."""
    account_id: str = account_of(client, account)["id"]
    response = credit(client, admin_headers, account_id, amount)
    assert response.status_code == 200, response.text
    return account_id


def ledger_of(client: httpx.Client, account: Account, **params: Any) -> dict[str, Any]:
    response = client.get("/accounts/me/ledger", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ledger_total(client: httpx.Client, account: Account) -> int:
    total: int = ledger_of(client, account, page_size=1)["total"]
    return total


def new_buyer(
    api: Api, client: httpx.Client, admin_headers: Mapping[str, str], funds: int = 0
) -> Account:
    """A fresh user, with `funds` in their wallet."""
    account = api.new_account(f"Buyer {unique('b')}")
    if funds:
        fund(client, admin_headers, account, funds)
    return account


def with_key(headers: Mapping[str, str], key: str | None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key} if key is not None else dict(headers)


def transfer(
    client: httpx.Client,
    sender: Account,
    to_account_id: str,
    amount: Any,
    *,
    currency: str = CURRENCY,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        "/transfers",
        json={"to_account_id": to_account_id, "amount": amount, "currency": currency},
        headers=with_key(sender.headers, key),
    )


def place_order(
    client: httpx.Client,
    buyer: Account,
    items: Iterable[tuple[str, int]],
    *,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        "/orders",
        json={"items": [{"product_id": pid, "quantity": qty} for pid, qty in items]},
        headers=with_key(buyer.headers, key),
    )


def orders_total(client: httpx.Client, headers: Mapping[str, str]) -> int:
    response = client.get("/orders", params={"page_size": 1}, headers=dict(headers))
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def around_now(hours: int = 1) -> tuple[str, str]:
    """An ISO period with a time zone, from `hours` ago to `hours` ahead."""
    now = datetime.now(UTC)
    return (now - timedelta(hours=hours)).isoformat(), (now + timedelta(hours=hours)).isoformat()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    if code is not None:
        assert body["error"] == code, body


def wait_until(condition: Callable[[], Any], within: float, what: str) -> Any:
    """Poll `condition` until it is truthy (its value), or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
