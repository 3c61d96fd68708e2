"""OpenAPI descriptions of the error answers, so clients (and schemathesis) know them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: str


_DESCRIPTIONS = {
    401: "Not signed in, or the token is invalid or expired",
    403: "Signed in, but not allowed",
    404: "No such resource (or not visible to you)",
    409: "Conflicts with the current state",
    422: "The request is invalid",
    503: "The database is unavailable",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with the error body; 503 is always possible."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        for status in (*statuses, 503)
    }
