"""Configuration read from the environment and a `.env` file.

Every variable is prefixed ``MONGOSHOP_`` except the two the guide names
(``MONGODB_URI`` and ``MONGODB_DATABASE``), which keep their usual names so an
existing deployment's environment works unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mongoshop.errors import ConfigurationError

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev-secret"}


class Settings(BaseSettings):
    """Everything the service needs to start, validated before anything connects."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    environment: Annotated[
        Literal["development", "test", "production"],
        Field(validation_alias="MONGOSHOP_ENV"),
    ] = "development"

    mongodb_uri: Annotated[
        str | None,
        Field(
            validation_alias="MONGODB_URI",
            description="Unset: start the embedded SecantusDB server.",
        ),
    ] = None
    mongodb_database: Annotated[
        str,
        Field(
            validation_alias="MONGODB_DATABASE",
            min_length=1,
            max_length=63,
            pattern=r"^[^/\\. \"$*<>:|?]+$",
        ),
    ] = "mongoshop"

    max_pool_size: Annotated[int, Field(validation_alias="MONGOSHOP_MAX_POOL_SIZE", ge=1)] = 50
    min_pool_size: Annotated[int, Field(validation_alias="MONGOSHOP_MIN_POOL_SIZE", ge=0)] = 0
    server_selection_timeout_ms: Annotated[
        int, Field(validation_alias="MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS", ge=1)
    ] = 5000
    connect_timeout_ms: Annotated[
        int, Field(validation_alias="MONGOSHOP_CONNECT_TIMEOUT_MS", ge=1)
    ] = 5000
    socket_timeout_ms: Annotated[
        int, Field(validation_alias="MONGOSHOP_SOCKET_TIMEOUT_MS", ge=1)
    ] = 20000
    operation_timeout_seconds: Annotated[
        float,
        Field(
            validation_alias="MONGOSHOP_OPERATION_TIMEOUT_SECONDS",
            gt=0,
            le=600,
            description=(
                "Every API request's and worker step's database work, retries included, "
                "gives up after this (then 503): a frozen database is noticed within it"
            ),
        ),
    ] = 5.0
    transaction_timeout_ms: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_TRANSACTION_TIMEOUT_MS",
            ge=100,
            le=120_000,
            description="A transaction, with all its retries, gives up after this (then 503)",
        ),
    ] = 10000
    shutdown_timeout_seconds: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_SHUTDOWN_TIMEOUT_SECONDS",
            ge=1,
            le=3600,
            description="On SIGTERM, how long `serve` waits for requests in flight",
        ),
    ] = 30
    retry_reads: Annotated[bool, Field(validation_alias="MONGOSHOP_RETRY_READS")] = True
    retry_writes: Annotated[bool, Field(validation_alias="MONGOSHOP_RETRY_WRITES")] = True
    server_api_version: Annotated[
        Literal["1"] | None, Field(validation_alias="MONGOSHOP_SERVER_API_VERSION")
    ] = None

    token_secret: Annotated[
        SecretStr,
        Field(
            validation_alias="MONGOSHOP_TOKEN_SECRET",
            min_length=16,
            description="Key of the HMAC that stores access tokens as hashes.",
        ),
    ] = SecretStr("development-only-token-secret-change-me")
    token_ttl_seconds: Annotated[
        int, Field(validation_alias="MONGOSHOP_TOKEN_TTL_SECONDS", ge=60, le=30 * 86400)
    ] = 3600

    currency: Annotated[
        str,
        Field(
            validation_alias="MONGOSHOP_CURRENCY",
            pattern=r"^[A-Z]{3}$",
            description="ISO 4217 code of every price and balance",
        ),
    ] = "EUR"

    data_dir: Annotated[Path, Field(validation_alias="MONGOSHOP_DATA_DIR")] = Path("data")

    smtp_host: Annotated[
        str | None,
        Field(
            validation_alias="MONGOSHOP_SMTP_HOST",
            description="Unset: mail is written as .eml files under the data directory",
        ),
    ] = None
    smtp_port: Annotated[int, Field(validation_alias="MONGOSHOP_SMTP_PORT", ge=1, le=65535)] = 587
    smtp_security: Annotated[
        Literal["starttls", "tls", "none"], Field(validation_alias="MONGOSHOP_SMTP_SECURITY")
    ] = "starttls"
    smtp_username: Annotated[str | None, Field(validation_alias="MONGOSHOP_SMTP_USERNAME")] = None
    smtp_password: Annotated[
        SecretStr | None, Field(validation_alias="MONGOSHOP_SMTP_PASSWORD")
    ] = None
    smtp_timeout_seconds: Annotated[
        float, Field(validation_alias="MONGOSHOP_SMTP_TIMEOUT_SECONDS", gt=0, le=120)
    ] = 15.0
    mail_from: Annotated[str, Field(validation_alias="MONGOSHOP_MAIL_FROM", min_length=3)] = (
        "mongoshop <no-reply@mongoshop.example>"
    )
    mail_max_attempts: Annotated[
        int, Field(validation_alias="MONGOSHOP_MAIL_MAX_ATTEMPTS", ge=1, le=100)
    ] = 10
    mail_lease_seconds: Annotated[
        float, Field(validation_alias="MONGOSHOP_MAIL_LEASE_SECONDS", gt=0, le=3600)
    ] = 60.0
    mail_retry_base_seconds: Annotated[
        float, Field(validation_alias="MONGOSHOP_MAIL_RETRY_BASE_SECONDS", gt=0, le=3600)
    ] = 2.0
    cache_ttl_seconds: Annotated[
        float, Field(validation_alias="MONGOSHOP_CACHE_TTL_SECONDS", ge=0, le=3600)
    ] = 30.0

    max_body_bytes: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_MAX_BODY_BYTES",
            ge=1024,
            le=64 * 1024 * 1024,
            description="Larger request bodies are refused with 413 before they are parsed",
        ),
    ] = 1024 * 1024
    cors_origins: Annotated[
        list[str],
        NoDecode,
        Field(
            validation_alias="MONGOSHOP_CORS_ORIGINS",
            description="Comma-separated origins allowed to call the API from a browser;"
            " empty (the default): no cross-origin access",
        ),
    ] = []
    login_max_failures: Annotated[
        int, Field(validation_alias="MONGOSHOP_LOGIN_MAX_FAILURES", ge=1, le=1000)
    ] = 5
    """Failed sign-ins allowed per e-mail address within the window, then 429."""
    login_max_failures_per_client: Annotated[
        int, Field(validation_alias="MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT", ge=1, le=10_000)
    ] = 50
    """Failed sign-ins allowed per client address within the window, then 429.

    At most 10,000: one address's failures in the window are kept in one document."""
    login_window_seconds: Annotated[
        int, Field(validation_alias="MONGOSHOP_LOGIN_WINDOW_SECONDS", ge=1, le=86400)
    ] = 900
    register_max_per_email: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_REGISTER_MAX_PER_EMAIL",
            ge=1,
            le=1000,
            description="Registrations allowed per e-mail address within the window, then 429",
        ),
    ] = 3
    register_max_per_client: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_REGISTER_MAX_PER_CLIENT",
            ge=1,
            le=10_000,
            description="Registrations allowed per client address within the window, then 429",
        ),
    ] = 20
    verification_ttl_seconds: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_VERIFICATION_TTL_SECONDS",
            ge=60,
            le=30 * 86400,
            description="How long an e-mail verification code works",
        ),
    ] = 86400
    trusted_proxies: Annotated[
        str,
        Field(
            validation_alias="MONGOSHOP_TRUSTED_PROXIES",
            max_length=2000,
            pattern=r"^[0-9A-Fa-f.:/, ]*$",
            description=(
                "Comma-separated addresses (or networks) of the reverse proxies whose "
                "X-Forwarded-For / X-Forwarded-Proto are believed; none by default."
            ),
        ),
    ] = ""
    cancel_window_seconds: Annotated[
        int,
        Field(
            validation_alias="MONGOSHOP_CANCEL_WINDOW_SECONDS",
            ge=0,
            le=365 * 86400,
            description="How long after placing an order its buyer may cancel it; admins any time.",
        ),
    ] = 86400

    log_format: Annotated[
        Literal["text", "json"], Field(validation_alias="MONGOSHOP_LOG_FORMAT")
    ] = "text"
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], Field(validation_alias="MONGOSHOP_LOG_LEVEL")
    ] = "INFO"
    slow_command_ms: Annotated[
        float,
        Field(
            validation_alias="MONGOSHOP_SLOW_COMMAND_MS",
            ge=0,
            description="Database commands at least this slow are logged at WARNING (0: all)",
        ),
    ] = 100.0
    metrics_enabled: Annotated[bool, Field(validation_alias="MONGOSHOP_METRICS_ENABLED")] = True
    metrics_token: Annotated[
        SecretStr | None,
        Field(
            validation_alias="MONGOSHOP_METRICS_TOKEN",
            min_length=16,
            description="If set, GET /metrics requires Authorization: Bearer <token>",
        ),
    ] = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        """``debug`` and ``DEBUG`` alike."""
        return value.upper() if isinstance(value, str) else value

    admin_email: Annotated[str | None, Field(validation_alias="MONGOSHOP_ADMIN_EMAIL")] = None
    admin_password: Annotated[
        SecretStr | None, Field(validation_alias="MONGOSHOP_ADMIN_PASSWORD")
    ] = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """``https://a.example, https://b.example`` from the environment, a list in code."""
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin[:80]!r} is not an origin such as https://shop.example")
        return origins

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError("MONGOSHOP_MIN_POOL_SIZE must not exceed MONGOSHOP_MAX_POOL_SIZE")
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError(
                "MONGOSHOP_ADMIN_EMAIL and MONGOSHOP_ADMIN_PASSWORD must be set together"
            )
        if self.smtp_timeout_seconds * 2 > self.mail_lease_seconds:
            raise ValueError(
                "MONGOSHOP_MAIL_LEASE_SECONDS must be at least twice MONGOSHOP_SMTP_TIMEOUT_SECONDS"
                " (a lease must outlive a send, or two senders could send one e-mail)"
            )
        if self.environment == "production":
            secret = self.token_secret.get_secret_value()
            if secret.startswith("development-only") or secret.lower() in _PLACEHOLDER_SECRETS:
                raise ValueError(
                    "MONGOSHOP_TOKEN_SECRET must be set to a real secret in production"
                )
            if self.metrics_enabled and self.metrics_token is None:
                raise ValueError(
                    "MONGOSHOP_METRICS_TOKEN must be set in production (or "
                    "MONGOSHOP_METRICS_ENABLED=false): /metrics would be public"
                )
        return self

    @property
    def embedded(self) -> bool:
        """True when no URI is configured and the embedded server is used."""
        return not self.mongodb_uri


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into one readable message.

    The message names the environment variable, so an operator can fix it
    without reading a pydantic traceback.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{_variable_name(field)}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def _variable_name(field: str) -> str:
    """The environment variable behind a settings field (or the field itself)."""
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, str):
        return info.validation_alias
    return field.upper() or "settings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests and the CLI may build their own."""
    return load_settings()
