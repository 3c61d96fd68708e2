"""Log output for `mongoshop serve` and `mongoshop worker`: text or JSON lines.

One handler on the root logger, with a filter that stamps every record with
the current request id. Uvicorn's loggers are routed through it too (``serve``
runs uvicorn with ``log_config=None``, so uvicorn installs no handler of its
own), so its access log lines carry the request id as well.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from mongoshop.observability.commands import COMMAND_LOGGER
from mongoshop.observability.context import current_request_id
from mongoshop.observability.tracing import current_ids

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "span_id",
    "color_message",  # uvicorn's copy of its message with terminal colour codes
}
"""What every LogRecord has; anything else on a record came from ``extra=``."""

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
QUIET_LOGGERS = ("pymongo", "httpx", "httpcore", "aiosmtplib")
"""Libraries whose INFO and DEBUG output would drown ours (the command monitor
reports database commands instead of PyMongo's own command log)."""


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was emitted for (or None), and,
    inside a trace, the trace's and the span's ids (`mongoshop.observability.tracing`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        if getattr(record, "trace_id", None) is None:
            ids = current_ids()
            record.trace_id, record.span_id = ids if ids is not None else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras.

    Fields passed with ``extra=`` become keys of their own (values that are not
    JSON become strings); an exception becomes an ``exception`` string. Newlines
    inside values are escaped, so a record is always exactly one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "trace_id", "span_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line, with ``[request_id=... trace_id=... span_id=...]`` after the
    message when there are some."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = " ".join(
            f"{name}={value}"
            for name in ("request_id", "trace_id", "span_id")
            if (value := getattr(record, name, None))
        )
        return f"{line} [{ids}]" if ids else line


def build_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the format and the request-id filter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(log_format: LogFormat, level: str, stream: TextIO | None = None) -> None:
    """Route every log record of the process, uvicorn's included, through one handler.

    Replaces the root logger's handlers (e.g. the CLI's default ``basicConfig``).
    Call it once, at the start of a long-running command.
    """
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(build_handler(log_format, stream))
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    logging.getLogger(COMMAND_LOGGER).setLevel(logging.NOTSET)  # the CLI quiets it for batch jobs
