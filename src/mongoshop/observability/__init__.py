"""Structured logs with a request id, database command monitoring, Prometheus metrics.

- `context`: the request id of the work in progress (a context variable);
- `logs`: text or JSON log lines, every record stamped with that id;
- `requests`: the ASGI middleware that assigns the id and counts requests;
- `commands`: the PyMongo listener that times commands and logs slow ones;
- `metrics`: the app's Prometheus registry and what ``/metrics`` shows.
"""

from mongoshop.observability.commands import CommandMonitor
from mongoshop.observability.context import current_request_id
from mongoshop.observability.logs import configure_logging
from mongoshop.observability.metrics import Metrics
from mongoshop.observability.requests import RequestObserver

__all__ = [
    "CommandMonitor",
    "Metrics",
    "RequestObserver",
    "configure_logging",
    "current_request_id",
]
