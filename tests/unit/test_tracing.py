"""Tracing's own rules, without a collector: when it is on, what starts a trace, what a
stored context carries, and what never reaches a span (the end-to-end test,
tests/e2e/test_tracing.py, follows an order across two processes)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from mongoshop.observability import tracing
from mongoshop.observability.logs import build_handler
from mongoshop.streams.changes import stored_trace
from tests.traces import spans

__all__ = ["spans"]  # the fixture

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "shop"}, False),  # a name alone sends nothing anywhere
    ],
)
def test_tracing_is_on_only_where_the_standard_variables_ask(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.tracing_requested(environ) is on
    if not on:
        assert tracing.configure_tracing("mongoshop-test", environ) is False
        assert not tracing.tracing_on()


def decide(environ: dict[str, str], kind: SpanKind, parent: bool = False) -> Decision:
    sampler = tracing.sampler_from(environ)
    context = None
    if parent:
        span_context = trace.SpanContext(
            trace_id=0x1234, span_id=0x99, is_remote=True, trace_flags=trace.TraceFlags(1)
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    return sampler.should_sample(context, 0x1234, "name", kind).decision


def test_a_database_or_http_call_outside_any_trace_starts_none() -> None:
    """The worker's polls (a stream's wait, a queue's claim) would each be a trace."""
    assert decide({}, SpanKind.CLIENT) is Decision.DROP
    assert decide({}, SpanKind.CLIENT, parent=True) is Decision.RECORD_AND_SAMPLE
    assert decide({}, SpanKind.SERVER) is Decision.RECORD_AND_SAMPLE
    assert decide({}, SpanKind.INTERNAL) is Decision.RECORD_AND_SAMPLE


def test_a_database_command_gets_a_span_only_inside_a_recorded_one(
    spans: InMemorySpanExporter,
) -> None:
    """PyMongo's tracer: an unsampled request's commands cost a lookup, not an SDK span."""
    assert tracing._provider is not None
    commands = tracing._InsideRecordedSpans(tracing._provider).get_tracer("pymongo")
    outside = commands.start_span("find", kind=SpanKind.CLIENT)
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x12, span_id=0x34, is_remote=True, trace_flags=trace.TraceFlags(0)
        )
    )
    with trace.use_span(unsampled):
        in_unsampled = commands.start_span("find", kind=SpanKind.CLIENT)
        with commands.start_as_current_span("aggregate") as nested_unsampled:
            pass
    with tracing.span("request") as request:
        recorded = commands.start_span("find", kind=SpanKind.CLIENT)
        recorded.end()
        with commands.start_as_current_span("aggregate") as nested:
            pass
    assert not outside.is_recording()
    assert not in_unsampled.is_recording()
    assert not nested_unsampled.is_recording()
    assert recorded.is_recording() is False  # ended
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert set(finished) == {"request", "find", "aggregate"}
    request_id = request.get_span_context().span_id
    assert finished["find"].parent is not None
    assert finished["find"].parent.span_id == request_id
    assert nested.get_span_context().trace_id == request.get_span_context().trace_id


def test_the_sampler_is_the_one_the_environment_names() -> None:
    off = {"OTEL_TRACES_SAMPLER": "always_off"}
    assert decide(off, SpanKind.SERVER) is Decision.DROP
    none_kept = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    assert decide(none_kept, SpanKind.SERVER) is Decision.DROP
    assert decide(none_kept, SpanKind.SERVER, parent=True) is Decision.RECORD_AND_SAMPLE
    assert (
        "TraceIdRatioBased{0.1}"
        in tracing.sampler_from(
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        ).get_description()
    )
    assert (
        "ParentBased" in tracing.sampler_from({"OTEL_TRACES_SAMPLER": "nonsense"}).get_description()
    )


def test_off_there_is_no_span_and_nothing_to_store() -> None:
    assert not tracing.tracing_on()
    with tracing.span("anything") as span:
        assert not span.is_recording()
        assert tracing.carrier() is None
        assert tracing.traced() == {}


def test_a_stored_context_continues_its_trace_in_another_span(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("request") as request:
        stored = tracing.carrier()
        assert tracing.traced() == {"trace": stored}
    assert stored is not None
    assert stored["traceparent"].startswith("00-")
    at = datetime.now(UTC) - timedelta(seconds=30)
    with tracing.span("later, elsewhere", parent=stored, start=at, attributes={"n": 1}):
        pass
    with tracing.span("a batch", links=[stored, None, {"traceparent": 7}]):
        pass
    finished = {span.name: span for span in spans.get_finished_spans()}
    later = finished["later, elsewhere"]
    assert later.parent is not None
    assert later.parent.span_id == request.get_span_context().span_id
    assert later.context.trace_id == request.get_span_context().trace_id
    assert later.start_time is not None
    assert later.start_time <= int((at + timedelta(seconds=1)).timestamp() * 1e9)
    batch = finished["a batch"]
    assert batch.context.trace_id != request.get_span_context().trace_id
    assert [link.context.span_id for link in batch.links] == [request.get_span_context().span_id]


def test_a_failure_is_recorded_on_its_span_and_raised(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError, match="no"), tracing.span("failing"):
        raise ValueError("no")
    [failed] = spans.get_finished_spans()
    assert failed.status.status_code is trace.StatusCode.ERROR


def test_a_claim_s_span_counts_what_it_took(spans: InMemorySpanExporter) -> None:
    claimed_at = datetime.now(UTC)
    tracing.claimed_span("outbox claim", claimed_at, [None, None])
    [claim] = spans.get_finished_spans()
    assert claim.attributes == {"mongoshop.claimed": 2}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://partner.example/hook?token=s3cret", "https://partner.example/hook"),
        ("https://user:pw@partner.example:8443/hook?a=1", "https://partner.example:8443/hook"),
        ("/auth/verify?code=abc", "/auth/verify"),
        ("/orders", "/orders"),
    ],
)
def test_urls_lose_their_query_and_credentials(url: str, shown: str) -> None:
    assert tracing._redact(url) == shown


def test_log_lines_inside_a_span_carry_its_ids(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = build_handler("text", stream)
    logger = logging.getLogger("test.tracing.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        with tracing.span("inside") as span:
            logger.warning("inside")
    finally:
        logger.removeHandler(handler)
    outside, inside = stream.getvalue().splitlines()
    context = span.get_span_context()
    assert "trace_id" not in outside
    assert inside.endswith(
        f"inside [trace_id={context.trace_id:032x} span_id={context.span_id:016x}]"
    )


def test_a_document_s_stored_trace_is_read_only_when_it_is_one() -> None:
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert stored_trace({"trace": {"traceparent": parent}}) == {"traceparent": parent}
    assert stored_trace({"trace": {"traceparent": 5}}) is None
    assert stored_trace({"trace": "00-..."}) is None
    assert stored_trace({}) is None
    assert stored_trace(None) is None


def scope(path: str, *headers: tuple[bytes, bytes]) -> dict[str, object]:
    method = "POST" if path == "/orders" else "GET"
    return {"type": "http", "method": method, "path": path, "headers": list(headers)}


def test_off_a_request_has_no_server_span() -> None:
    assert tracing.server_span(scope("/users/1")) is None


def test_a_request_s_span_continues_its_caller_and_is_named_after_its_route(
    spans: InMemorySpanExporter,
) -> None:
    caller = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    server = tracing.server_span(scope("/users/6b12", (b"traceparent", caller.encode())))
    assert server is not None
    tracing.end_server_span(server, scope("/users/6b12"), "/users/{user_id}", 503)
    [finished] = spans.get_finished_spans()
    assert finished.name == "GET /users/{user_id}"
    assert finished.kind is SpanKind.SERVER
    assert finished.context.trace_id == int("ab" * 16, 16)
    assert finished.parent is not None
    assert finished.parent.span_id == int("cd" * 8, 16)
    assert dict(finished.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/users/{user_id}",
        "url.path": "/users/6b12",
        "http.response.status_code": 503,
    }
    assert finished.status.status_code is trace.StatusCode.ERROR


def test_scrapes_and_probes_are_not_traced(spans: InMemorySpanExporter) -> None:
    assert tracing.server_span(scope("/metrics")) is None
    assert tracing.server_span(scope("/health")) is None
    assert tracing.server_span(scope("/products")) is not None


@pytest.mark.parametrize(
    ("environ", "odds"),
    [
        ({}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ".1"}, 0.1),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0),
        ({"OTEL_TRACES_SAMPLER": "PARENTBASED_TRACEIDRATIO", "OTEL_TRACES_SAMPLER_ARG": "7"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, 1.0),
        ({"OTEL_TRACES_SAMPLER": "nonsense"}, 1.0),  # the default: parentbased_always_on
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, None),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, None),
    ],
)
def test_a_new_trace_is_left_to_a_coin_only_under_a_parent_based_sampler(
    environ: dict[str, str], odds: float | None
) -> None:
    """``traceidratio`` alone re-decides every span by its trace id: a coin tossed for the
    request would disagree with it, so those requests go through the SDK."""
    assert tracing.root_odds(environ) == odds


def test_a_request_that_starts_a_trace_is_kept_or_dropped_whole_by_the_coin(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tracing._provider is not None
    monkeypatch.setattr(tracing, "_kept_roots", tracing._provider.get_tracer("kept roots"))

    def request(*headers: tuple[bytes, bytes]) -> tuple[trace.Span, tracing.Carrier | None]:
        server = tracing.server_span(scope("/orders", *headers))
        assert server is not None
        token = tracing.enter_server_span(server)
        with tracing.span("transaction"):
            stored = tracing.carrier()
        tracing.leave_server_span(token)
        tracing.end_server_span(server, scope("/orders"), "/orders", 201)
        return server, stored

    monkeypatch.setattr(tracing, "_keep_odds", 0.0)
    dropped, stored = request()
    context = dropped.get_span_context()
    assert context.is_valid
    assert not context.trace_flags.sampled
    assert not dropped.is_recording()
    # what the dropped request writes says "not sampled": the worker drops its part too
    assert stored is not None
    assert stored["traceparent"].startswith(f"00-{context.trace_id:032x}-")
    assert not int(stored["traceparent"][-2:], 16) & 1  # not sampled
    assert spans.get_finished_spans() == ()

    caller = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    continued, _ = request((b"traceparent", caller.encode()))  # a caller's choice is no coin's
    assert continued.get_span_context().trace_id == int("ab" * 16, 16)
    spans.clear()

    monkeypatch.setattr(tracing, "_keep_odds", 1.0)
    kept, stored = request()
    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"POST /orders", "transaction"}
    assert finished["transaction"].parent is not None
    assert finished["transaction"].parent.span_id == kept.get_span_context().span_id
    assert stored is not None
    assert int(stored["traceparent"][-2:], 16) & 1  # sampled


def test_what_becomes_known_inside_a_span_is_said_on_it(spans: InMemorySpanExporter) -> None:
    tracing.say({"mongoshop.outcome": "lost"})  # outside any span: nowhere, and no error
    with tracing.span("webhook attempt"):
        tracing.say({"mongoshop.outcome": "dead", "mongoshop.attempt": 5})
    [attempt] = spans.get_finished_spans()
    assert dict(attempt.attributes or {}) == {"mongoshop.outcome": "dead", "mongoshop.attempt": 5}
