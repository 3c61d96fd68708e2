"""Traces (OpenTelemetry): off unless the standard variables switch them on.

`configure_tracing` reads the environment as every OpenTelemetry SDK does:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns
tracing on, exported over OTLP/HTTP; ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` (and its ``_ARG``),
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*`` and ``OTEL_SDK_DISABLED`` mean what
they mean everywhere. Without them nothing is configured: the spans below are
OpenTelemetry's no-op ones (no allocation beyond a shared object, nothing stored).

A trace crosses the shop's asynchronous hops through the database: what a
request writes (an order, a user, a ledger entry) carries its trace context
(`carrier`, a W3C ``traceparent``), the change event's span is its child, and
the outbox item and the webhook delivery it causes carry the event's context
in turn, so the e-mail and every webhook attempt, sent by another process hours
later, sit in the request's trace (`span` with a stored ``parent``).

What a span says is chosen here and at its call sites, never a whole document:
no address, password, code, token, secret or query string goes into an attribute
(the API's and the webhook client's URLs are stripped of their query: `_redact`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler

logger = logging.getLogger(__name__)

Carrier = dict[str, str]
"""A span's context as stored in a document (``traceparent``, maybe ``tracestate``)."""

TRACER = trace.get_tracer("mongoshop")
"""The shop's own spans; a no-op until `configure_tracing` installs a provider."""
PROPAGATOR = TraceContextTextMapPropagator()
QUERY_ATTRIBUTES = ("http.url", "url.full", "http.target")
"""The attributes an instrumentation fills with a URL or a path that may hold a query."""

_provider: TracerProvider | None = None
_kept_roots: trace.Tracer | None = None
"""Where the sampler leaves a new trace's start to a coin (``parentbased_*``): the tracer of
the requests whose coin came up "keep" (its sampler records all), and the coin's odds."""
_keep_odds = 1.0


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint, and the SDK not disabled
    nor its traces exporter set to ``none``."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK's tracer provider and PyMongo's instrumentation, once per process,
    when the environment asks for traces (`tracing_requested`); whether tracing is on.

    `service`: the service name unless ``OTEL_SERVICE_NAME`` gives one (``mongoshop-api``,
    ``mongoshop-worker``...). Call it before any client is created: PyMongo's listener
    is registered for the clients created after it.
    """
    global _provider, _kept_roots, _keep_odds
    if _provider is not None:
        return True
    if not tracing_requested(environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider, sampling
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    resource = Resource.create(attributes)
    exporting = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
    exporting.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    sampler = sampler_from(environ)
    provider = TracerProvider(resource=resource, sampler=sampler, active_span_processor=exporting)
    trace.set_tracer_provider(provider)
    odds = root_odds(environ)
    if odds is not None:
        _kept_roots = TracerProvider(
            resource=resource,
            sampler=sampling.ALWAYS_ON,
            active_span_processor=exporting,
            shutdown_on_exit=False,
        ).get_tracer("mongoshop")
        _keep_odds = odds
    # Statements stay out (`capture_statement` off): a filter holds e-mails and hashes.
    PymongoInstrumentor().instrument(tracer_provider=_InsideRecordedSpans(provider))
    _provider = provider
    logger.info("traces exported over OTLP/HTTP (sampler %s)", sampler.get_description())
    return True


def shutdown_tracing() -> None:
    """Send the spans still held (the batch processor's queue) and stop; at process exit."""
    global _provider, _kept_roots
    if _provider is not None:
        _provider.shutdown()
        _provider = None
        _kept_roots = None


def tracing_on() -> bool:
    return _provider is not None


def _sampler_named(environ: Mapping[str, str]) -> tuple[str, float]:
    """``OTEL_TRACES_SAMPLER`` (default ``parentbased_always_on``) and its ratio."""
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        ratio = 1.0
    if name not in ROOT_SAMPLERS and name.removeprefix("parentbased_") not in ROOT_SAMPLERS:
        name = "parentbased_always_on"
    return name, min(max(ratio, 0.0), 1.0)


ROOT_SAMPLERS = ("always_on", "always_off", "traceidratio")


def sampler_from(environ: Mapping[str, str]) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names (default ``parentbased_always_on``), which
    never starts a trace at a database or HTTP client call (`_ClientCallsNeedATrace`)."""
    from opentelemetry.sdk.trace import sampling

    name, ratio = _sampler_named(environ)
    if name != environ.get("OTEL_TRACES_SAMPLER", name).strip().lower():
        logger.warning("unknown OTEL_TRACES_SAMPLER %r: %s", environ["OTEL_TRACES_SAMPLER"], name)
    roots: dict[str, sampling.Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }
    if name in roots:
        return _client_calls_need_a_trace(roots[name])
    root = roots[name.removeprefix("parentbased_")]
    return _client_calls_need_a_trace(sampling.ParentBased(root))


def root_odds(environ: Mapping[str, str]) -> float | None:
    """The chance that a request without a ``traceparent`` starts a recorded trace, where
    the sampler decides that by a coin alone (``parentbased_*``); None where it does not
    (``traceidratio`` alone decides every span by its trace id, so `server_span` leaves
    it to the SDK)."""
    name, ratio = _sampler_named(environ)
    root = name.removeprefix("parentbased_")
    if root == name:
        return None
    return {"always_on": 1.0, "always_off": 0.0}.get(root, ratio)


def _client_calls_need_a_trace(base: Sampler) -> Sampler:
    from opentelemetry.sdk.trace import sampling

    class _ClientCallsNeedATrace(sampling.Sampler):
        """A database command or an HTTP call outside any trace is dropped: the worker's
        polls (a change stream's wait, a queue's claim) would otherwise each start a
        trace of their own, a steady noise that hides the traces that matter."""

        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Link] | None = None,
            trace_state: Any = None,
        ) -> sampling.SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind is SpanKind.CLIENT and not parent.is_valid:
                return sampling.SamplingResult(sampling.Decision.DROP)
            return base.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"ClientCallsNeedATrace{{{base.get_description()}}}"

    return _ClientCallsNeedATrace()


class _InsideRecordedSpans(trace.TracerProvider):
    """PyMongo's tracer provider: a command gets a span only inside a recorded one.

    Measured (benchmarks/RESULTS.md, section 12), a command in an unsampled request
    cost 13 µs through the SDK (its sampler's decision, ids, a non-recording span),
    a quarter of what tracing at 10% added to a cached route; refused here, it costs
    a context lookup. What is lost is nothing: under a parent-based sampler a child
    of an unrecorded span is never recorded, and a command outside any span (a
    worker's poll) is dropped anyway (`_ClientCallsNeedATrace`).
    """

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _RecordedParentsOnly(self._provider.get_tracer(*args, **kwargs))


class _RecordedParentsOnly(trace.Tracer):
    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Span:
        if not trace.get_current_span(context).is_recording():
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Context | None = None, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        if not trace.get_current_span(context).is_recording():
            yield trace.INVALID_SPAN
            return
        with self._tracer.start_as_current_span(name, context, *args, **kwargs) as current:
            yield current


def carrier() -> Carrier | None:
    """The current span's context, to store beside what it causes; None outside a trace
    (tracing off: nothing is stored)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    stored: Carrier = {}
    PROPAGATOR.inject(stored)
    return stored


def traced() -> dict[str, Carrier]:
    """``{"trace": carrier()}`` inside a trace, else nothing: spread into a document."""
    stored = carrier()
    return {} if stored is None else {"trace": stored}


def _context_of(stored: Mapping[str, Any] | None) -> Context | None:
    if not stored or not isinstance(stored.get("traceparent"), str):
        return None
    return PROPAGATOR.extract({k: v for k, v in stored.items() if isinstance(v, str)})


def _link_to(stored: Mapping[str, Any] | None) -> Link | None:
    context = _context_of(stored)
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return Link(span_context) if span_context.is_valid else None


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, Any] | None = None,
    links: Sequence[Mapping[str, Any] | None] = (),
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start: datetime | None = None,
) -> Iterator[Span]:
    """A span of ours, current inside the block; an exception is recorded on it and raised.

    `parent`: a stored context (`carrier`) this span continues, whatever is current (the
    outbox item's, the delivery's); `links`: stored contexts it relates to without
    belonging to their traces (a batch's events); `start`: when it began, if before now
    (a change event's commit).
    """
    if _provider is None:  # off: not even a no-op span's bookkeeping
        yield trace.INVALID_SPAN
        return
    found = [link for link in map(_link_to, links) if link is not None]
    with TRACER.start_as_current_span(
        name,
        context=_context_of(parent),
        kind=kind,
        links=found,
        attributes=dict(attributes or {}),
        start_time=None if start is None else int(start.timestamp() * 1e9),
    ) as current:
        yield current


def say(attributes: Mapping[str, Any]) -> None:
    """Add to the current span what became known inside it (an attempt's outcome, its
    retry delay); nothing when it is not recorded."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(dict(attributes))


def claimed_span(
    name: str, claimed_at: datetime, traces: Sequence[Mapping[str, Any] | None]
) -> None:
    """The span of a queue's claim that took something, from when it began: linked to
    the traces of what it took. (A claim that takes nothing leaves no span: an idle
    worker's polls would drown the traces.)"""
    if _provider is None:
        return
    with span(name, links=traces, start=claimed_at, attributes={"mongoshop.claimed": len(traces)}):
        pass


def current_ids() -> tuple[str, str] | None:
    """The current trace's and span's ids (hexadecimal), for the log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _redact(value: Any) -> Any:
    """A URL or path without its query string (and without credentials)."""
    if not isinstance(value, str) or ("?" not in value and "@" not in value):
        return value
    parts = urlsplit(value)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc if parts.scheme else parts.netloc, parts.path, "", ""))


def _strip_queries(target: Span) -> None:
    attributes = getattr(target, "attributes", None) or {}
    for name in QUERY_ATTRIBUTES:
        if name in attributes:
            target.set_attribute(name, _redact(attributes[name]))
    if "url.query" in attributes:
        target.set_attribute("url.query", "[redacted]")


TRACE_HEADERS = (b"traceparent", b"tracestate")
UNTRACED_PATHS = frozenset({"/metrics", "/health"})


def server_span(scope: Mapping[str, Any]) -> Span | None:
    """The server span of an HTTP request, continuing the caller's trace when it sent a
    ``traceparent``; None when tracing is off or for the scrapes and probes.

    Ours rather than FastAPI's instrumentation: measured (benchmarks/RESULTS.md,
    section 12), that middleware cost about 175 µs a request whether the request was
    sampled or not, a third of the API's throughput on a cached route at a 10%
    sampler. A request that starts a trace and is not kept costs a coin and two
    random ids here, not the SDK's span: it still gets a context (an unsampled one),
    so what it causes is not traced either, as the SDK's own span would have it.
    """
    if _provider is None or scope.get("path") in UNTRACED_PATHS:
        return None
    method = str(scope.get("method", "HTTP"))
    incoming = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name in TRACE_HEADERS
    }
    if incoming or _kept_roots is None:
        parent = PROPAGATOR.extract(incoming) if incoming else None
        return TRACER.start_span(method, context=parent, kind=SpanKind.SERVER)
    if random.random() < _keep_odds:
        return _kept_roots.start_span(method, kind=SpanKind.SERVER)
    return trace.NonRecordingSpan(
        trace.SpanContext(random.getrandbits(128) or 1, random.getrandbits(64) or 1, False)
    )


def enter_server_span(server: Span) -> object:
    """Make the request's span current (`leave_server_span` undoes it): the SDK's
    ``use_span`` without its generator, which costs more than the span when unsampled."""
    return context_api.attach(trace.set_span_in_context(server))


def leave_server_span(token: object) -> None:
    context_api.detach(token)  # type: ignore[arg-type]


def end_server_span(
    server: Span,
    scope: Mapping[str, Any],
    route: str,
    status: int,
    error: BaseException | None = None,
) -> None:
    """Name the span after its route's template (``GET /users/{user_id}``: never the raw
    path, which holds ids) and say how it ended; the path goes without its query, and
    an error that escaped the app by its type alone (its message may hold a value)."""
    if server.is_recording():
        method = str(scope.get("method", "HTTP"))
        server.update_name(f"{method} {route}")
        server.set_attributes(
            {
                "http.request.method": method,
                "http.route": route,
                "url.path": str(scope.get("path", "")),
                "http.response.status_code": status,
            }
        )
        if error is not None:
            server.set_attribute("error.type", type(error).__qualname__)
        if status >= 500 or error is not None:
            server.set_status(trace.StatusCode.ERROR)
    server.end()


def instrument_http_client(client: Any) -> None:
    """Client spans for the webhook POSTs (httpx's instrumentation), which also send the
    ``traceparent`` header: a receiver's own tracing continues the trace."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    async def on_request(client_span: Span, request: Any) -> None:
        if client_span.is_recording():
            _strip_queries(client_span)

    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=_provider, request_hook=on_request
    )
