"""Each domain error maps to one HTTP status."""

from __future__ import annotations

import pytest

from mongoshop.errors import (
    AccountDisabled,
    AuthenticationFailed,
    Busy,
    DatabaseUnavailable,
    DuplicateEmail,
    InvalidId,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from mongoshop.http.errors import status_for


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (InvalidId("x"), 404),
        (DuplicateEmail("x"), 409),
        (ValidationFailed("x"), 422),
        (AuthenticationFailed("x"), 401),
        (AccountDisabled("x"), 403),
        (PermissionDenied("x"), 403),
        (DatabaseUnavailable("x"), 503),
        (Busy("x"), 503),
    ],
)
def test_each_domain_error_has_one_http_status(error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]
