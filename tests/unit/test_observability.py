"""Log formats, the request-id filter and middleware, the command monitor, metrics: no database."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import monitoring
from pymongo.errors import ServerSelectionTimeoutError
from starlette.routing import NoMatchFound

from mongoshop.clock import utcnow
from mongoshop.errors import ConfigurationError
from mongoshop.models.mail import OutboxCounts
from mongoshop.observability import context
from mongoshop.observability.commands import CommandMonitor
from mongoshop.observability.logs import (
    QUIET_LOGGERS,
    JsonFormatter,
    RequestIdFilter,
    build_handler,
    configure_logging,
)
from mongoshop.observability.metrics import UNMATCHED_ROUTE, Metrics
from mongoshop.observability.requests import RequestObserver, parse_request_id
from mongoshop.settings import Settings, load_settings
from mongoshop.streams.changes import event_time
from mongoshop.worker.streams import StreamConsumer, StreamSpec
from tests.traces import spans

__all__ = ["spans"]  # the fixture

# --- helpers ---------------------------------------------------------------------------------


class Records(logging.Handler):
    """Keeps the records a logger emits, formatted by nothing."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def command_log() -> Iterator[Records]:
    logger = logging.getLogger("mongoshop.db.commands")
    handler = Records()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("mongoshop.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def in_request(request_id: str | None, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run `call` in a context of its own where the request id is `request_id`."""

    def run() -> Any:
        context.request_id.set(request_id)
        return call(*args, **kwargs)

    return contextvars.copy_context().run(run)


ADDRESS = ("db.example", 27017)


def command_events(
    command: dict[str, Any], *, request_id: int = 7, duration_ms: float = 1.0, failure: Any = None
) -> tuple[monitoring.CommandStartedEvent, Any]:
    """A started event and its end (succeeded, or failed when `failure` is given)."""
    name = next(iter(command))
    started = monitoring.CommandStartedEvent(command, "shop", request_id, ADDRESS, 1)
    duration = timedelta(milliseconds=duration_ms)
    if failure is None:
        return started, monitoring.CommandSucceededEvent(
            duration, {"ok": 1}, name, request_id, ADDRESS, 1, database_name="shop"
        )
    return started, monitoring.CommandFailedEvent(
        duration, failure, name, request_id, ADDRESS, 1, database_name="shop"
    )


def run_command(monitor: CommandMonitor, command: dict[str, Any], **options: Any) -> None:
    started, finished = command_events(command, **options)
    monitor.started(started)
    if isinstance(finished, monitoring.CommandSucceededEvent):
        monitor.succeeded(finished)
    else:
        monitor.failed(finished)


# --- log lines -------------------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_request_id_and_extras() -> None:
    line = JsonFormatter().format(
        record("hello %s", "world", request_id="req-1", command="find", at=datetime(2026, 1, 1))
    )
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "mongoshop.test"
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-1"
    assert entry["command"] == "find"
    assert entry["at"] == "2026-01-01 00:00:00"  # not JSON: as a string
    assert entry["time"].endswith("Z")
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert "args" not in entry
    assert "msg" not in entry


def test_a_json_record_is_one_line_even_with_newlines_and_a_traceback() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        made = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "two\nlines",
            None,
            exc_info=sys.exc_info(),
        )
    line = JsonFormatter().format(made)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines"
    assert "ValueError: bad" in entry["exception"]


def test_extras_never_replace_the_core_fields() -> None:
    entry = json.loads(JsonFormatter().format(record("real", level="FAKE", logger="fake")))
    assert entry["level"] == "INFO"
    assert entry["logger"] == "mongoshop.test"


def test_the_filter_stamps_the_current_request_id_and_keeps_an_explicit_one() -> None:
    stamped = record()
    in_request("req-abc", RequestIdFilter().filter, stamped)
    assert stamped.request_id == "req-abc"
    outside = record()
    RequestIdFilter().filter(outside)
    assert outside.request_id is None
    explicit = record(request_id="mine")
    in_request("other", RequestIdFilter().filter, explicit)
    assert explicit.request_id == "mine"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_handler_writes_the_request_id_of_the_request_in_both_formats(log_format: Any) -> None:
    stream = io.StringIO()
    handler = build_handler(log_format, stream)
    logger = logging.getLogger(f"mongoshop.test.handler.{log_format}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        in_request("req-42", logger.warning, "inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = stream.getvalue().splitlines()
    if log_format == "json":
        assert json.loads(inside)["request_id"] == "req-42"
        assert "request_id" not in json.loads(outside)
    else:
        assert inside.endswith("inside [request_id=req-42]")
        assert outside.endswith("WARNING mongoshop.test.handler.text: outside")


# --- request ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [b"abc", b"0f8fad5b-d9cb-469f-a165-70867728950e", b"web.1:req_9", b"a" * 64]
)
def test_a_sane_short_token_is_taken_as_the_request_id(value: bytes) -> None:
    assert parse_request_id(value) == value.decode()


@pytest.mark.parametrize(
    "value",
    [None, b"", b"a" * 65, b"has space", b"new\nline", b'quote"', b"caf\xc3\xa9", b"{json}"],
)
def test_anything_else_is_not_a_request_id(value: bytes | None) -> None:
    assert parse_request_id(value) is None


class Route:
    def __init__(self, path_format: str) -> None:
        self.path_format = path_format


def http_scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers or []}


async def call(
    observer: RequestObserver, scope: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """Run one request in a task of its own, as a server does; what was sent, the id seen."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.create_task(observer(scope, receive, send))  # type: ignore[arg-type]
    return sent, getattr(observer.app, "seen", None)


class App:
    """An ASGI app that routes like Starlette (sets ``scope["route"]``) and answers `status`."""

    def __init__(self, status: int = 200, route: str | None = "/users/{user_id}") -> None:
        self.status = status
        self.route = route
        self.seen: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen = context.current_request_id()
        if self.route is not None:
            scope["route"] = Route(self.route)
        if self.status == 500:
            raise RuntimeError("boom")
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"a", b"1")]}
        )
        await send({"type": "http.response.body", "body": b"{}"})


def response_header(sent: list[dict[str, Any]], name: bytes) -> bytes | None:
    headers = dict(sent[0]["headers"])
    return headers.get(name)


async def test_the_clients_request_id_is_used_returned_and_visible_to_the_app() -> None:
    observer = RequestObserver(App())
    sent, seen = await call(observer, http_scope("/users/1", [(b"x-request-id", b"client-id-1")]))
    assert seen == "client-id-1"
    assert context.current_request_id() is None  # set in the request's task, not here
    assert response_header(sent, b"x-request-id") == b"client-id-1"
    assert response_header(sent, b"a") == b"1"  # the app's own headers stay


async def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one() -> None:
    observer = RequestObserver(App())
    ids = set()
    for headers in ([], [(b"x-request-id", b"evil\r\nid")], [(b"x-request-id", b"x" * 300)]):
        sent, seen = await call(observer, http_scope("/users/1", headers))
        returned = response_header(sent, b"x-request-id")
        assert returned is not None
        assert seen == returned.decode()
        assert len(seen) == 32
        assert all(c in "0123456789abcdef" for c in seen)
        ids.add(seen)
    assert len(ids) == 3


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    metrics = Metrics()
    await call(RequestObserver(App(), metrics), http_scope("/users/1"))
    await call(RequestObserver(App(), metrics), http_scope("/users/2"))
    await call(RequestObserver(App(404, route=None), metrics), http_scope("/no/such/path"))
    sample = metrics.registry.get_sample_value
    ok = {"route": "/users/{user_id}", "method": "GET", "status": "200"}
    assert sample("mongoshop_http_requests_total", ok) == 2
    assert sample("mongoshop_http_request_duration_seconds_count", ok) == 2
    unmatched = {"route": UNMATCHED_ROUTE, "method": "GET", "status": "404"}
    assert sample("mongoshop_http_requests_total", unmatched) == 1
    exposition = metrics.render().decode()
    assert "/users/1" not in exposition
    assert "/no/such/path" not in exposition


async def test_an_unknown_method_is_one_label_and_a_failing_app_counts_as_500() -> None:
    metrics = Metrics()
    scope = {**http_scope("/users/1"), "method": "BREW"}
    await call(RequestObserver(App(), metrics), scope)
    with pytest.raises(RuntimeError):
        await call(RequestObserver(App(500), metrics), http_scope("/users/1"))
    sample = metrics.registry.get_sample_value
    labels = {"route": "/users/{user_id}", "method": "OTHER", "status": "200"}
    assert sample("mongoshop_http_requests_total", labels) == 1
    labels = {"route": "/users/{user_id}", "method": "GET", "status": "500"}
    assert sample("mongoshop_http_requests_total", labels) == 1


async def test_a_request_s_span_is_current_in_the_app_and_names_an_escaped_error_by_type(
    spans: InMemorySpanExporter,
) -> None:
    """The error's message may hold a value (a filter, an address): only its type is kept."""
    seen: list[trace.SpanContext] = []

    class Failing(App):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(trace.get_current_span().get_span_context())
            await super().__call__(scope, receive, send)

    with pytest.raises(RuntimeError):
        await call(RequestObserver(Failing(500)), http_scope("/users/1"))
    [server] = spans.get_finished_spans()
    assert seen[0].span_id == server.context.span_id
    assert server.name == "GET /users/{user_id}"
    assert server.status.status_code is trace.StatusCode.ERROR
    assert server.attributes is not None
    assert server.attributes["error.type"] == "RuntimeError"
    assert server.attributes["http.response.status_code"] == 500
    assert "boom" not in repr(dict(server.attributes)) + repr(server.events) + repr(server.status)
    assert trace.get_current_span() is trace.INVALID_SPAN  # left as it was found


async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await RequestObserver(app, Metrics())({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


# --- the command monitor ---------------------------------------------------------------------


def test_a_slow_command_is_a_warning_with_names_and_duration_but_no_values(
    command_log: Records,
) -> None:
    monitor = CommandMonitor(slow_ms=100)
    secret = "needle-4f1c@example.com"
    command = {"find": "users", "filter": {"email": secret}, "$db": "shop"}
    in_request("req-slow", run_command, monitor, command, duration_ms=150)
    (slow,) = command_log.records
    assert slow.levelno == logging.WARNING
    assert slow.getMessage() == "slow database command find on shop.users: 150.0 ms"
    fields = {key: getattr(slow, key) for key in ("command", "database", "collection")}
    assert fields == {"command": "find", "database": "shop", "collection": "users"}
    assert slow.duration_ms == 150.0
    assert slow.request_id == "req-slow"
    assert slow.outcome == "ok"
    assert secret not in JsonFormatter().format(slow)


def test_a_fast_command_is_logged_only_at_debug(command_log: Records) -> None:
    monitor = CommandMonitor(slow_ms=100)
    in_request("req-fast", run_command, monitor, {"find": "users"}, duration_ms=3)
    (fast,) = command_log.records
    assert fast.levelno == logging.DEBUG
    assert fast.request_id == "req-fast"
    command_log.records.clear()
    logging.getLogger("mongoshop.db.commands").setLevel(logging.INFO)
    run_command(monitor, {"find": "users"}, duration_ms=3)
    assert command_log.records == []


def test_a_zero_threshold_makes_every_command_slow(command_log: Records) -> None:
    monitor = CommandMonitor(slow_ms=0)
    run_command(monitor, {"insert": "orders", "documents": [{"x": 1}]}, duration_ms=0)
    assert [r.levelno for r in command_log.records] == [logging.WARNING]
    assert command_log.records[0].collection == "orders"


def test_a_failed_command_names_its_code_but_not_the_servers_message(
    command_log: Records,
) -> None:
    monitor = CommandMonitor(slow_ms=0)
    failure = {
        "ok": 0,
        "code": 11000,
        "codeName": "DuplicateKey",
        "errmsg": "E11000 duplicate key error dup key: { email: 'needle@example.com' }",
    }
    run_command(monitor, {"insert": "users"}, failure=failure)
    (failed,) = command_log.records
    assert failed.outcome == "failed"
    assert failed.error_code == "DuplicateKey"
    assert "needle" not in JsonFormatter().format(failed)


def test_a_change_stream_poll_is_neither_slow_nor_timed(command_log: Records) -> None:
    metrics = Metrics()
    monitor = CommandMonitor(slow_ms=100, latency=metrics.command_duration)
    poll = {"getMore": 12345, "collection": "users", "maxTimeMS": 1000}
    run_command(monitor, poll, duration_ms=1000)
    run_command(monitor, {"getMore": 12345, "collection": "users"}, request_id=8, duration_ms=300)
    levels = [r.levelno for r in command_log.records]
    assert levels == [logging.DEBUG, logging.WARNING]  # the poll; a plain getMore that was slow
    count = metrics.registry.get_sample_value(
        "mongoshop_db_command_duration_seconds_count", {"command": "getMore"}
    )
    assert count == 1


def test_command_latency_is_observed_by_command_name() -> None:
    metrics = Metrics()
    monitor = CommandMonitor(slow_ms=100, latency=metrics.command_duration)
    for request_id in range(3):
        run_command(monitor, {"find": "users"}, request_id=request_id, duration_ms=2)
    run_command(monitor, {"insert": "users"}, duration_ms=20)
    sample = metrics.registry.get_sample_value
    assert sample("mongoshop_db_command_duration_seconds_count", {"command": "find"}) == 3
    assert sample("mongoshop_db_command_duration_seconds_count", {"command": "insert"}) == 1
    total = sample("mongoshop_db_command_duration_seconds_sum", {"command": "find"})
    assert total == pytest.approx(0.006)


def test_the_monitor_forgets_commands_once_they_end() -> None:
    monitor = CommandMonitor(slow_ms=100)
    for request_id in range(50):
        run_command(monitor, {"find": "users"}, request_id=request_id)
    assert monitor._in_flight == {}


# --- metrics and settings --------------------------------------------------------------------


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.command_duration.labels("find").observe(0.1)
    count = "mongoshop_db_command_duration_seconds_count"
    assert first.registry.get_sample_value(count, {"command": "find"}) == 1
    assert second.registry.get_sample_value(count, {"command": "find"}) is None


def test_an_event_is_dated_by_its_wall_time_else_its_cluster_time() -> None:
    from bson import Timestamp

    wall = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert event_time({"wallTime": wall, "clusterTime": Timestamp(1, 1)}) == wall
    assert event_time({"clusterTime": Timestamp(1_770_000_000, 3)}) == datetime.fromtimestamp(
        1_770_000_000, UTC
    )
    assert event_time({}) is None


def test_observability_settings_are_read_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("MONGOSHOP_LOG_FORMAT", "json")
    monkeypatch.setenv("MONGOSHOP_LOG_LEVEL", "debug")
    monkeypatch.setenv("MONGOSHOP_SLOW_COMMAND_MS", "250")
    monkeypatch.setenv("MONGOSHOP_METRICS_ENABLED", "false")
    settings = load_settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.slow_command_ms == 250
    assert settings.metrics_enabled is False
    assert settings.metrics_token is None
    monkeypatch.setenv("MONGOSHOP_LOG_FORMAT", "xml")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_LOG_FORMAT"):
        load_settings()
    monkeypatch.setenv("MONGOSHOP_LOG_FORMAT", "text")
    monkeypatch.setenv("MONGOSHOP_SLOW_COMMAND_MS", "-1")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_SLOW_COMMAND_MS"):
        load_settings()
    monkeypatch.setenv("MONGOSHOP_SLOW_COMMAND_MS", "100")
    monkeypatch.setenv("MONGOSHOP_METRICS_TOKEN", "short")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_METRICS_TOKEN"):
        load_settings()


def test_a_refused_write_in_an_ok_reply_is_a_failure(command_log: Records) -> None:
    monitor = CommandMonitor(slow_ms=0)
    started, _ = command_events({"insert": "users"})
    reply = {"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": 11000, "errmsg": "dup: x@y"}]}
    monitor.started(started)
    monitor.succeeded(
        monitoring.CommandSucceededEvent(
            timedelta(milliseconds=1), reply, "insert", 7, ADDRESS, 1, database_name="shop"
        )
    )
    (refused,) = command_log.records
    assert (refused.outcome, refused.error_code) == ("failed", "11000")
    assert "x@y" not in JsonFormatter().format(refused)


async def test_an_outbox_that_cannot_be_counted_is_left_out_rather_than_stale() -> None:
    metrics = Metrics()

    async def counts() -> OutboxCounts:
        return OutboxCounts(pending=3, sent=2, failed=1)

    async def unreachable() -> OutboxCounts:
        raise ServerSelectionTimeoutError("no server")

    await metrics.refresh_outbox(counts)
    gauge = "mongoshop_mail_outbox_items"
    assert metrics.registry.get_sample_value(gauge, {"status": "pending"}) == 3
    await metrics.refresh_outbox(unreachable)
    assert metrics.registry.get_sample_value(gauge, {"status": "pending"}) is None
    assert b"mongoshop_http_requests" in metrics.render()  # the rest is still there


async def test_scrapes_more_often_than_the_count_period_send_no_query() -> None:
    """Issue 21: an open /metrics cost the database its counts on every scrape, so anyone
    who could reach it could make the database count as fast as they could ask."""
    metrics = Metrics(count_seconds=60)
    asked = 0

    async def counts() -> OutboxCounts:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0.01)
        return OutboxCounts(pending=asked, sent=0, failed=0)

    await asyncio.gather(*(metrics.refresh_outbox(counts) for _ in range(20)))
    for _ in range(20):
        await metrics.refresh_outbox(counts)

    assert asked == 1, "twenty at once and twenty after: counted once"
    gauge = "mongoshop_mail_outbox_items"
    assert metrics.registry.get_sample_value(gauge, {"status": "pending"}) == 1
    metrics.count_seconds = 0  # the period is over
    await metrics.refresh_outbox(counts)
    assert metrics.registry.get_sample_value(gauge, {"status": "pending"}) == 2


def test_stream_lag_is_reported_per_stream_once_it_has_answered() -> None:
    metrics = Metrics()

    async def handler(change: Any) -> None:
        return None

    def consumer(name: str) -> StreamConsumer:
        spec = StreamSpec(name, None, ("insert",), handler)  # type: ignore[arg-type]
        return StreamConsumer(spec, None)  # type: ignore[arg-type]

    idle, new = consumer("idle"), consumer("new")
    idle.caught_up_to = utcnow() - timedelta(seconds=30)
    metrics.track_streams([idle, new])
    lag = metrics.registry.get_sample_value(
        "mongoshop_change_stream_lag_seconds", {"stream": "idle"}
    )
    assert lag is not None
    assert 30 <= lag < 40
    assert (
        metrics.registry.get_sample_value("mongoshop_change_stream_lag_seconds", {"stream": "new"})
        is None
    )
    idle.caught_up_to = utcnow() + timedelta(seconds=5)  # a clock ahead of ours: never negative
    assert idle.lag_seconds(utcnow()) == 0


def test_the_write_probes_and_stalls_are_reported_per_collection() -> None:
    class Watch:
        def __init__(self) -> None:
            self.seconds: dict[str, float | None] = {"products": None, "orders": 0.004}
            self.restarts = 1

        def stalled(self) -> list[str]:
            return ["products"]

    metrics = Metrics()
    metrics.track_writes(Watch())

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("mongoshop_collection_write_probe_seconds", collection="orders") == 0.004
    assert sample("mongoshop_collection_write_probe_seconds", collection="products") is None
    assert sample("mongoshop_collection_writes_stalled", collection="products") == 1.0
    assert sample("mongoshop_collection_writes_stalled", collection="orders") == 0.0
    assert sample("mongoshop_embedded_database_restarts_total") == 1.0


def test_configure_logging_routes_uvicorn_through_the_one_handler() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    saved_access = (access.handlers[:], access.propagate, access.level)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    access.addHandler(logging.NullHandler())
    access.propagate = False
    stream = io.StringIO()
    try:
        configure_logging("json", "INFO", stream)
        in_request(
            "req-7", access.info, '%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", "/", "1.1", 200
        )
        logging.getLogger("pymongo.command").info("driver chatter is quiet")
        logging.getLogger("mongoshop.test").debug("below the level")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        access.handlers[:], access.propagate, access.level = saved_access
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "uvicorn.access"
    assert entry["request_id"] == "req-7"
    assert entry["message"] == '1.2.3.4 - "GET / HTTP/1.1" 200'


@pytest.mark.parametrize("enabled", [True, False])
def test_metrics_can_be_turned_off_and_never_appear_in_the_openapi_document(
    enabled: bool,
) -> None:
    from mongoshop.api.app import create_app

    app = create_app(Settings(metrics_enabled=enabled))  # builds routes; connects to nothing
    if enabled:
        assert app.url_path_for("metrics") == "/metrics"
    else:
        with pytest.raises(NoMatchFound):
            app.url_path_for("metrics")
    assert "/metrics" not in app.openapi()["paths"]
    assert (app.state.metrics is not None) is enabled
