"""OpenAPI descriptions of the error answers, so clients (and schemathesis) know them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: str


_DESCRIPTIONS = {
    400: "The body is not parseable JSON (not UTF-8, or nested too deeply)",
    401: "Not signed in, or the token is invalid or expired",
    403: "Signed in, but not allowed",
    404: "No such resource (or not visible to you)",
    409: "Conflicts with the current state",
    413: "The request body is larger than the configured limit",
    422: "The request is invalid",
    429: "Too many failed attempts; retry after the given number of seconds",
    503: "The database is unavailable",
}


ALWAYS = (400, 413, 503)
"""Possible on every route: a malformed or oversized body, an unavailable database."""


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with the error body, plus `ALWAYS`."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        for status in sorted({*statuses, *ALWAYS})
    }
