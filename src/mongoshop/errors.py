"""Domain errors: what went wrong, in the words of the business, not the driver.

Repositories and services raise these; the API maps each ``code`` to an HTTP
status in one place (``mongoshop.http.errors``) and the CLI prints the message.
Errors this module does not know are never swallowed: they propagate.
"""

from __future__ import annotations

from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WTimeoutError,
)


class MongoshopError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigurationError(MongoshopError):
    code = "configuration_error"


class NotFound(MongoshopError):
    code = "not_found"


class InvalidId(NotFound):
    """A malformed id can name no document: to a caller it is simply not found."""

    code = "not_found"


class Conflict(MongoshopError):
    code = "conflict"


class DuplicateEmail(Conflict):
    code = "email_taken"


class ValidationFailed(MongoshopError):
    code = "validation_error"


class AuthenticationFailed(MongoshopError):
    code = "invalid_credentials"


class AccountDisabled(MongoshopError):
    code = "account_disabled"


class PermissionDenied(MongoshopError):
    code = "forbidden"


class EmailNotVerified(PermissionDenied):
    """The account's address is not confirmed yet: no orders, no money moved."""

    code = "email_not_verified"


class InvalidVerificationToken(NotFound):
    """An unknown, used or expired e-mail verification code: there is no such code (404)."""

    code = "invalid_verification_token"


class DatabaseUnavailable(MongoshopError):
    code = "database_unavailable"


class Busy(DatabaseUnavailable):
    """Too many requests write the same items at once: this one's turn did not come within
    its deadline. Nothing was written; the same request may be sent again."""

    code = "busy"


class TooManyAttempts(MongoshopError):
    """Too many failed sign-ins for one e-mail or one client: wait `retry_after` seconds."""

    code = "too_many_attempts"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


_UNAVAILABLE = (
    ConnectionFailure,  # includes AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WTimeoutError,
)


def is_unavailable(exc: BaseException) -> bool:
    """True for driver errors that mean "the database cannot answer now", the client-side
    operation deadline (`pymongo.timeout`) running out included."""
    return isinstance(exc, _UNAVAILABLE) or (
        isinstance(exc, PyMongoError) and bool(getattr(exc, "timeout", False))
    )


def unavailable_from(exc: PyMongoError) -> DatabaseUnavailable:
    """The domain error for an outage; the driver's text is kept for logs only."""
    return DatabaseUnavailable(
        f"the database is unavailable; try again shortly ({type(exc).__name__})"
    )


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class OutOfStock(Conflict):
    code = "out_of_stock"


class StockLimitExceeded(Conflict):
    """Adding stock would pass the most a product may hold (`MAX_QUANTITY`)."""

    code = "stock_limit_exceeded"


class BalanceLimitExceeded(Conflict):
    """A credit would take a balance past `MAX_AMOUNT`, the most any amount may be."""

    code = "balance_limit_exceeded"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class CancellationWindowClosed(Conflict):
    """The buyer's time to cancel has passed (an admin may still cancel)."""

    code = "cancellation_window_closed"
