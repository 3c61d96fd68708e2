"""Configuration read from the environment and a `.env` file.

Every variable is prefixed ``MONGOSHOP_`` except the two the guide names
(``MONGODB_URI`` and ``MONGODB_DATABASE``), which keep their usual names so an
existing deployment's environment works unchanged (and ``MONGOSHOP_ENV``, short
for the environment).
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
    """Everything the service needs to start, validated before anything connects.

    A field `name` is read from ``MONGOSHOP_<NAME>`` (the prefix), but for the
    three with an alias of their own. Each field's `description` is its
    documentation: `docs/configuration.md` is generated from them
    (``python tools/gen_config_docs.py``) and a test fails when they drift.
    """

    model_config = SettingsConfigDict(
        env_prefix="MONGOSHOP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    environment: Annotated[
        Literal["development", "test", "production"],
        Field(
            validation_alias="MONGOSHOP_ENV",
            description="`development`, `test` or `production`: production refuses to start"
            " on the embedded database (no `MONGODB_URI`: it has no authentication),"
            " with the default token secret or with a public `/metrics` (no"
            " `MONGOSHOP_METRICS_TOKEN` while metrics are on), and `serve` creates no demo"
            " admin or demo data there unless given `--demo`",
        ),
    ] = "development"

    mongodb_uri: Annotated[
        str | None,
        Field(
            validation_alias="MONGODB_URI",
            description="Unset: the embedded database; else a replica set or Atlas URI,"
            " MongoDB 4.2 or newer (a standalone server, an older server and, for now, a"
            " sharded cluster are refused at start-up with one line)",
        ),
    ] = None
    mongodb_database: Annotated[
        str,
        Field(
            validation_alias="MONGODB_DATABASE",
            min_length=1,
            max_length=63,
            pattern=r"^[^/\\. \"$*<>:|?]+$",
            description="The database's name",
        ),
    ] = "mongoshop"

    max_pool_size: Annotated[
        int, Field(ge=1, description="Most connections the driver opens to each server")
    ] = 50
    min_pool_size: Annotated[
        int, Field(ge=0, description="Connections the driver keeps open to each server")
    ] = 0
    server_selection_timeout_ms: Annotated[
        int,
        Field(ge=1, description="How long an operation waits for a server: the bound on a 503"),
    ] = 5000
    connect_timeout_ms: Annotated[int, Field(ge=1, description="TCP connect timeout")] = 5000
    socket_timeout_ms: Annotated[int, Field(ge=1, description="Socket read timeout")] = 20000
    operation_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="The client-side deadline (PyMongo's `timeout()`) of every API"
            " request's database work and of every worker step, retries included: a frozen"
            " database (a hung host, a partition) is a 503 within it, not after the socket"
            " timeout",
        ),
    ] = 5.0
    transaction_timeout_ms: Annotated[
        int,
        Field(
            ge=100,
            le=120_000,
            description="A transaction, retries included, gives up after this (503): while"
            " the database is down, a transfer or an order does not hang for the driver's"
            " two minutes of retries",
        ),
    ] = 10000
    shutdown_timeout_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=3600,
            description="On SIGTERM, `serve` stops accepting connections and waits this long"
            " for the requests in flight before it stops the worker and closes its database"
            " client",
        ),
    ] = 30
    request_head_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="A connection that has not sent a whole request head (request line"
            " and headers) this long after it opened, or after its request began, is closed",
        ),
    ] = 10.0
    request_body_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="A request whose body has not fully arrived this long after its"
            " headers is answered 408 and its connection closed",
        ),
    ] = 30.0
    max_connections: Annotated[
        int,
        Field(
            ge=1,
            le=100_000,
            description="Open connections `serve` keeps at once; past it, new requests are"
            " answered 503 at once (keep it below the process's file descriptor limit)",
        ),
    ] = 500
    retry_reads: Annotated[bool, Field(description="Driver retries of reads")] = True
    retry_writes: Annotated[bool, Field(description="Driver retries of writes")] = True
    server_api_version: Annotated[
        Literal["1"] | None, Field(description="`1` to pin the Stable API")
    ] = None

    token_secret: Annotated[
        SecretStr,
        Field(
            min_length=16,
            description="Key of the HMAC under which access tokens are stored (at least 16"
            " characters); the default is for development only",
        ),
    ] = SecretStr("development-only-token-secret-change-me")
    token_ttl_seconds: Annotated[
        int, Field(ge=60, le=30 * 86400, description="Access-token lifetime")
    ] = 3600

    currency: Annotated[
        str,
        Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code of every price and balance"),
    ] = "EUR"

    data_dir: Annotated[
        Path,
        Field(description="Embedded database files, its log, demo credentials, `.eml` mail"),
    ] = Path("data")

    smtp_host: Annotated[
        str | None,
        Field(
            description="SMTP server for outgoing mail; unset: `.eml` files in `<data dir>/mail/`"
        ),
    ] = None
    smtp_port: Annotated[int, Field(ge=1, le=65535, description="SMTP port")] = 587
    smtp_security: Annotated[
        Literal["starttls", "tls", "none"],
        Field(description="`starttls`, `tls` (implicit) or `none`"),
    ] = "starttls"
    smtp_username: Annotated[str | None, Field(description="SMTP user name")] = None
    smtp_password: Annotated[SecretStr | None, Field(description="SMTP password")] = None
    smtp_timeout_seconds: Annotated[
        float, Field(gt=0, le=120, description="Per-send SMTP timeout")
    ] = 15.0
    mail_from: Annotated[str, Field(min_length=3, description="Sender address of every e-mail")] = (
        "mongoshop <no-reply@mongoshop.example>"
    )
    mail_max_attempts: Annotated[
        int,
        Field(ge=1, le=100, description="Attempts before an e-mail is marked `failed`"),
    ] = 10
    mail_lease_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="How long a sender owns a claimed e-mail (at least twice the SMTP timeout)",
        ),
    ] = 60.0
    mail_retry_base_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="First retry delay of an e-mail; doubles per attempt (with jitter),"
            " capped at 30 min",
        ),
    ] = 2.0
    mail_senders: Annotated[
        int,
        Field(
            ge=1,
            le=32,
            description="E-mails one worker sends at once (each of its senders claims its own)",
        ),
    ] = 1
    webhook_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=60,
            description="Deadline of one webhook attempt: resolving, connecting, sending and"
            " reading the answer",
        ),
    ] = 10.0
    webhook_max_attempts: Annotated[
        int, Field(ge=1, le=100, description="Attempts before a webhook delivery is dead")
    ] = 8
    webhook_retry_base_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="First retry delay of a webhook delivery; doubles per attempt (with"
            " jitter), up to MONGOSHOP_WEBHOOK_MAX_BACKOFF_SECONDS",
        ),
    ] = 10.0
    webhook_max_backoff_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=86400,
            description="Longest wait between two webhook attempts, a receiver's Retry-After"
            " included",
        ),
    ] = 3600.0
    webhook_lease_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="How long a deliverer owns a claimed webhook delivery (at least twice"
            " the webhook timeout)",
        ),
    ] = 60.0
    webhook_deliverers: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Webhook attempts one worker makes at once: a receiver that hangs"
            " holds at most MONGOSHOP_WEBHOOK_PER_SUBSCRIPTION of them until its timeout,"
            " and the others serve every other subscription meanwhile",
        ),
    ] = 4
    webhook_per_subscription: Annotated[
        int,
        Field(
            ge=1,
            le=64,
            description="Of those, the attempts one worker makes at once to one endpoint (a"
            " subscription's URL, shared by every subscription to it): a slow endpoint"
            " takes its share of the deliverers, never all of them",
        ),
    ] = 2
    webhook_pause_after_dead: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Deliveries dying in a row that pause their subscription (the admin"
            " resumes it)",
        ),
    ] = 5
    webhook_circuit_failures: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Failed attempts in a row (timeouts, errors, 5xx) to one subscription"
            " that open its circuit: no attempt is made to it for"
            " MONGOSHOP_WEBHOOK_CIRCUIT_OPEN_SECONDS, then one tries it again",
        ),
    ] = 5
    webhook_circuit_open_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=86400,
            description="How long a subscription's open circuit lets no attempt through",
        ),
    ] = 60.0
    webhook_retention_days: Annotated[
        float,
        Field(gt=0, le=3650, description="How long delivered webhooks are kept (dead ones stay)"),
    ] = 30.0
    webhook_allow_private_targets: Annotated[
        bool,
        Field(
            description="For development only: let webhooks reach loopback, private and"
            " link-local addresses (refused in production)",
        ),
    ] = False
    cache_ttl_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=3600,
            description="Upper bound on the staleness of the API's read caches (profiles,"
            " products, tokens) while a change stream is down; 0 disables them and the"
            " listing caches",
        ),
    ] = 30.0
    listing_ttl_seconds: Annotated[
        float,
        Field(
            ge=1,
            le=86_400,
            description="How long a cached listing page (ids and total) is current when no"
            " change drops it first (the change streams do); then it is computed again in"
            " the background, served as last computed meanwhile. A broad page at 100,000"
            " documents reads every match on the embedded server: a short period keeps"
            " it busy recomputing",
        ),
    ] = 300.0
    listing_patience_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=60,
            description="A cached listing page dropped by a change is computed again in the"
            " background; a request waits this long for it, then is answered from the page"
            " as last computed, with an `Age` header (its documents are read fresh)",
        ),
    ] = 1.0
    dashboard_refresh_seconds: Annotated[
        float,
        Field(
            ge=1,
            le=86_400,
            description="The admin dashboards' figures (`/admin/stats/*`) are read from"
            " the database as last computed; a read finding them older than this starts"
            " their recomputation in the background (each shows when it was computed);"
            " at 100,000 documents one recomputation reads the collection for seconds",
        ),
    ] = 300.0

    max_body_bytes: Annotated[
        int,
        Field(
            ge=1024,
            le=64 * 1024 * 1024,
            description="Larger request bodies are refused with 413 before they are parsed",
        ),
    ] = 1024 * 1024
    cors_origins: Annotated[
        list[str],
        NoDecode,
        Field(
            description="Comma-separated origins allowed to call the API from a browser;"
            " empty: no cross-origin access",
        ),
    ] = []
    login_max_failures: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Failed sign-ins allowed per e-mail address within the window, then 429",
        ),
    ] = 5
    login_max_failures_per_client: Annotated[
        int,
        Field(
            ge=1,
            le=10_000,
            description="Failed sign-ins allowed per client address within the window, then"
            " 429 (at most 10,000: one address's failures in the window are kept in one"
            " document)",
        ),
    ] = 50
    login_window_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=86400,
            description="The window of the sign-in and registration throttles",
        ),
    ] = 900
    register_max_per_email: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Registrations allowed per e-mail address within the window, then 429",
        ),
    ] = 3
    register_max_per_client: Annotated[
        int,
        Field(
            ge=1,
            le=10_000,
            description="Registrations allowed per client address within the window, then 429",
        ),
    ] = 20
    verification_ttl_seconds: Annotated[
        int,
        Field(ge=60, le=30 * 86400, description="How long an e-mail verification code works"),
    ] = 86400
    trusted_proxies: Annotated[
        str,
        Field(
            max_length=2000,
            pattern=r"^[0-9A-Fa-f.:/, ]*$",
            description="Comma-separated addresses (or networks) of the reverse proxies whose"
            " `X-Forwarded-For` / `X-Forwarded-Proto` are believed; none by default",
        ),
    ] = ""
    cancel_window_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=365 * 86400,
            description="How long after placing an order its buyer may cancel it (admins any time)",
        ),
    ] = 86400

    log_format: Annotated[
        Literal["text", "json"],
        Field(description="`text` or `json` (one JSON object per line), for `serve` and `worker`"),
    ] = "text"
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        Field(description="`DEBUG` (every database command), `INFO`, `WARNING` or `ERROR`"),
    ] = "INFO"
    slow_command_ms: Annotated[
        float,
        Field(
            ge=0,
            description="Database commands at least this slow are logged at WARNING (0: all)",
        ),
    ] = 100.0
    write_probe_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=3600,
            description="How often `serve` and `worker` send each collection a write that"
            " changes nothing, to notice writes that hang while `ping` still answers (0:"
            " never)",
        ),
    ] = 10.0
    write_stall_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="A collection whose writes have failed this long is stalled:"
            " `/health` answers 503 and names it, and the embedded database is restarted"
            " by the process that started it",
        ),
    ] = 30.0
    metrics_enabled: Annotated[bool, Field(description="Serve `GET /metrics`")] = True
    metrics_token: Annotated[
        SecretStr | None,
        Field(
            min_length=16,
            description="If set, `GET /metrics` requires `Authorization: Bearer <token>`",
        ),
    ] = None
    metrics_count_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=3600,
            description="How long `GET /metrics` reuses its queue counts (outbox and"
            " webhook deliveries by status, paused subscriptions): scrapes more often than"
            " that, by a scraper or by anyone who can reach an open /metrics, send no query"
            " to the database",
        ),
    ] = 5.0

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        """``debug`` and ``DEBUG`` alike."""
        return value.upper() if isinstance(value, str) else value

    admin_email: Annotated[
        str | None,
        Field(
            description="With `MONGOSHOP_ADMIN_PASSWORD` (both or neither): this admin is"
            " created or updated at start-up"
        ),
    ] = None
    admin_password: Annotated[
        SecretStr | None, Field(description="The password of `MONGOSHOP_ADMIN_EMAIL`")
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
        if self.webhook_timeout_seconds * 2 > self.webhook_lease_seconds:
            raise ValueError(
                "MONGOSHOP_WEBHOOK_LEASE_SECONDS must be at least twice"
                " MONGOSHOP_WEBHOOK_TIMEOUT_SECONDS (a lease must outlive an attempt)"
            )
        if self.environment == "production":
            if not self.mongodb_uri:
                raise ValueError(
                    "MONGODB_URI must be set in production: the embedded database listens"
                    " without authentication (any local user could read and write it); it is"
                    " for development and tests"
                )
            if self.webhook_allow_private_targets:
                raise ValueError(
                    "MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS is for development: in production"
                    " webhooks go to public addresses only"
                )
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
            problems.append(f"{variable_name(field)}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def variable_name(field: str) -> str:
    """The environment variable behind a settings field (or the field itself)."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field.upper() or "settings"
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests and the CLI may build their own."""
    return load_settings()
