"""Domain errors to HTTP, in one place. Bodies are ``{"error": code, "detail": message}``.

Nothing here returns a stack trace: an unexpected exception is logged with its
traceback and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mongoshop.errors import (
    AccountDisabled,
    AuthenticationFailed,
    Conflict,
    DatabaseUnavailable,
    MongoshopError,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    ValidationFailed,
    is_unavailable,
    unavailable_from,
)
from mongoshop.validation import describe_errors

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[MongoshopError], int] = {
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 422,
    AuthenticationFailed: 401,
    AccountDisabled: 403,
    PermissionDenied: 403,
    DatabaseUnavailable: 503,
    TooManyAttempts: 429,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "detail": detail}, status_code=status, headers=dict(headers or {})
    )


def status_for(error: MongoshopError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    """The 422's detail: every problem, one sentence each (`describe_errors`)."""
    return describe_errors(errors) if errors else "invalid request"


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """The methods served at `path`, as the OpenAPI contract lists them.

    Starlette's 405 names only the methods of the first route whose path
    matched, but ``/orders`` is served by two routes (GET and POST). Among the
    templates matching `path`, the most specific ones count: ``/users/me``
    matches ``/users/{user_id}`` too, but its own template is the one a client
    reads in the contract.
    """
    flatten = getattr(routing, "iter_route_contexts", None)  # FastAPI >= 0.16x
    by_template: dict[str, set[str]] = {}
    for route in flatten(app.routes) if flatten is not None else app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            template = str(getattr(route, "path", ""))
            by_template.setdefault(template, set()).update(getattr(route, "methods", None) or ())
    if not by_template:
        return set()
    fewest = min(template.count("{") for template in by_template)
    return {
        method
        for template, methods in by_template.items()
        if template.count("{") == fewest
        for method in methods
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MongoshopError)
    async def _domain(request: Request, exc: MongoshopError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 503:
            headers = {"Retry-After": "5"}
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        if status >= 500:
            logger.error("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.detail)
        return error_response(status, exc.code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(error.get("type") == "json_invalid" for error in errors):
            # Not JSON at all: a malformed request (400), not an invalid one (422).
            return error_response(400, "invalid_json", describe_validation(errors))
        return error_response(422, "validation_error", describe_validation(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(allowed_methods(request.app, request.url.path)))
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(PyMongoError)
    async def _driver(request: Request, exc: PyMongoError) -> JSONResponse:
        if is_unavailable(exc):
            logger.warning(
                "database unavailable on %s %s: %s", request.method, request.url.path, exc
            )
            error = unavailable_from(exc)
            return error_response(503, error.code, error.detail, {"Retry-After": "5"})
        logger.exception("database error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The backstop for a failure of the outermost middleware itself: errors of the
        # app are answered inside the stack by `HardenedResponses`, headers and all.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error")
