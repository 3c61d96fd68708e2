"""User models: what a client sends, what is stored, and what is shown.

Registration cannot choose a status or roles; only an admin can change them,
through `UserUpdate` checked by the service.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from zoneinfo import available_timezones

from email_validator import validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
)

from mongoshop.models.common import (
    InputModel,
    PyObjectId,
    StoredModel,
    Trimmed,
    WholeNumber,
)


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the time zone database that are not IANA zone names: the host's own local
time, a POSIX rules template, and a placeholder (`available_timezones` lists them)."""

TIMEZONES: tuple[str, ...] = tuple(sorted((available_timezones() - NOT_ZONES) | {"UTC"}))
"""The IANA names a client may choose; the contract's named `Timezone` component."""

_TIMEZONE_SET = frozenset(TIMEZONES)


def _check_timezone(value: str) -> str:
    if value not in _TIMEZONE_SET:
        raise ValueError(f"unknown time zone {value[:64]!r}: an IANA name such as Europe/Paris")
    return value


def timezone_var_name(zone: str) -> str:
    """A constant name per zone for client generators, unique where the zones' own
    spelling is not (``GMT+0``, ``GMT-0`` and ``GMT0`` would all become ``GMT0``)."""
    spelled = zone.replace("+", "_PLUS_").replace("-", "_MINUS_")
    return re.sub(r"[^0-9A-Za-z]+", "_", spelled).strip("_").upper()


TIMEZONE_COMPONENT = {
    "type": "string",
    "title": "Timezone",
    "description": "An IANA time zone name.",
    "enum": list(TIMEZONES),
    "x-enum-varnames": [timezone_var_name(zone) for zone in TIMEZONES],
}
"""Stated once in the OpenAPI contract, referred to by every field that takes a zone."""

_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Everything `str.splitlines` breaks on: CR and LF, and the Unicode line and paragraph
separators (U+0085, U+2028, U+2029) that some mail and log software treats as a newline."""


def _single_line(value: str) -> str:
    found = _LINE_BREAKS.search(value)
    if found is not None:
        raise ValueError(
            f"must be a single line (a line break U+{ord(found.group()):04X} "
            f"at position {found.start()})"
        )
    return value


SINGLE_LINE_PATTERN = (
    "^[^\\s\\x00-\\x1F\\x7F\\x85\\u2028\\u2029]"
    "(?:[^\\x00-\\x1F\\x7F\\x85\\u2028\\u2029]*[^\\s\\x00-\\x1F\\x7F\\x85\\u2028\\u2029])?$"
)
"""A trimmed single line, as a JSON Schema pattern (the OpenAPI contract of `Name`)."""

Name = Annotated[
    str,
    Field(min_length=2, max_length=100, json_schema_extra={"pattern": SINGLE_LINE_PATTERN}),
    Trimmed,
    AfterValidator(_single_line),
]
"""A person's name: one trimmed line (it is shown in e-mails and logs, never in a header)."""


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.upper()}]" for letter in word)


_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
"""Domains that can never receive mail (RFC 6761); the e-mail validator refuses them."""


def _mailable(value: str) -> str:
    """The address as our mail goes out: an ASCII local part, the domain in IDNA (A-labels).

    A non-ASCII local part needs SMTPUTF8 from every server on the way, which the
    project does not rely on: refused here, at the door, rather than failing to send
    ten times later. A non-ASCII domain is kept, in its ASCII (``xn--``) form.
    """
    checked = validate_email(value, check_deliverability=False)
    if checked.ascii_email is None:
        raise ValueError("the part before the @ must be ASCII letters, digits or punctuation")
    return checked.ascii_email.lower()


Email = Annotated[
    EmailStr,
    Field(
        max_length=254,
        json_schema_extra={
            "pattern": "^[!-~]+@",
            "not": {"pattern": rf"\.(?:{'|'.join(map(_any_case, _SPECIAL_USE))})\.?$"},
        },
    ),
    AfterValidator(_mailable),
]
"""E-mail addresses are stored lower-cased, ASCII (IDNA domains): comparison is
case-insensitive everywhere, and every stored address can be mailed."""
Age = Annotated[int, Field(ge=18, le=120, strict=True), WholeNumber]
Password = Annotated[str, Field(min_length=8, max_length=256)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$", examples=["en", "fr"])]
Timezone = Annotated[
    str,
    Field(max_length=64, json_schema_extra={"enum": list(TIMEZONES)}),
    AfterValidator(_check_timezone),
]
"""Inline in each model's schema; the OpenAPI contract states it once instead
(`mongoshop.api.openapi` puts a reference to `TIMEZONE_COMPONENT` in its place)."""


class Preferences(BaseModel):
    """Preferences as stored and shown.

    The same checks as on input, but keys written by a newer version are
    ignored rather than refused (a stored document must keep loading), and
    values are not stripped again on every read.
    """

    language: Language = "en"
    timezone: Annotated[str, Field(max_length=64)] = "UTC"
    """Any stored name loads: the list of zones depends on the host's time zone data."""
    notifications: Annotated[bool, Field(strict=True)] = True


class UserPreferences(Preferences, InputModel):
    """Preferences as a client sends them: unknown keys refused, whitespace stripped."""

    timezone: Timezone = "UTC"


class UserCreate(InputModel):
    """A self-registration."""

    name: Name
    email: Email
    password: Password
    age: Age | None = None
    preferences: UserPreferences = Field(default_factory=UserPreferences)


class UserUpdate(InputModel):
    """A partial update; only the fields sent are changed.

    `status` and `roles` are for admins only (the service enforces it). `age`
    may be sent as null to clear it; the other fields may not be null.
    """

    name: Name | None = None
    age: Age | None = None
    preferences: UserPreferences | None = None
    password: Password | None = None
    current_password: Annotated[
        str | None,
        Field(
            max_length=256,
            description="Required with `password` when changing one's own password; "
            "ignored without it.",
        ),
    ] = None
    status: UserStatus | None = None
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(Role))] | None = None

    not_null: ClassVar[frozenset[str]] = frozenset(
        {"name", "preferences", "password", "current_password", "status", "roles"}
    )

    @property
    def admin_fields(self) -> set[str]:
        """The fields sent that only an admin may change."""
        return self.model_fields_set & {"status", "roles"}


class PasswordReset(InputModel):
    """An admin's reset of another user's password: it signs that user out everywhere."""

    new_password: Password


class UserInDB(StoredModel):
    """A user as stored; carries the password hash, so never returned as is.

    The stored ``search_tokens`` are not part of the model: they are derived from
    the name and e-mail on every write, only the index reads them, and leaving
    them out makes each read cheaper (see `mongoshop.search`).
    """

    name: str
    email: str
    age: int | None = None
    status: UserStatus = UserStatus.ACTIVE
    roles: list[Role] = Field(default_factory=lambda: [Role.USER])
    preferences: Preferences = Field(default_factory=Preferences)
    password_hash: str | None = None
    created_at: datetime
    updated_at: datetime
    last_login: datetime | None = None
    login_count: int = 0
    sessions_revoked_at: datetime | None = None
    """Tokens issued at or before this moment are refused (password change, suspension)."""
    email_verified: bool = True
    """False from a self-registration until its address is confirmed; absent (True) on
    accounts made by an admin, the seed command, or before verification existed."""
    email_verified_at: datetime | None = None
    verification_sent_at: datetime | None = None
    """When the latest verification code was issued: only that code confirms the address
    (an earlier one stops working when a new one is sent)."""
    unconfirmed_until: datetime | None = None
    """While the address is unconfirmed: when its latest code expires, and with it the
    account (unless its wallet has seen money). Removed when the address is confirmed."""
    welcome: bool = True
    """False on accounts created in bulk (the seed command, unless `--welcome`): the
    worker sends them no welcome e-mail. Absent (True) on every other account."""

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE


class UserPublic(BaseModel):
    """What the API shows of a user: no password hash, no search tokens, `id` as a string."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    age: int | None
    status: UserStatus
    roles: list[Role]
    preferences: Preferences
    created_at: datetime
    updated_at: datetime
    last_login: datetime | None
    login_count: int
    email_verified: bool

    @classmethod
    def of(cls, user: UserInDB) -> UserPublic:
        return cls(
            id=str(user.id),
            name=user.name,
            email=user.email,
            age=user.age,
            status=user.status,
            roles=user.roles,
            preferences=user.preferences,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login=user.last_login,
            login_count=user.login_count,
            email_verified=user.email_verified,
        )


class PendingVerification(BaseModel):
    """A stored verification code: its digest (`_id`), whose it is, until when."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    digest: str = Field(alias="_id")
    user_id: PyObjectId
    created_at: datetime
    expires_at: datetime


class RegistrationAccepted(BaseModel):
    """The answer to every registration, whether the address was new or already taken."""

    detail: str = (
        "If this address can be used, a message has been sent to it: "
        "confirm the address with the code it contains (POST /auth/verify)."
    )


class EmailVerification(InputModel):
    """The code of a verification e-mail."""

    token: Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class UserSummary(BaseModel):
    id: str
    name: str
    email: str
    login_count: int


class UserContact(BaseModel):
    """Who a user is, in a list that names them: the name and e-mail, nothing more."""

    id: str
    name: str
    email: str


class UserStats(BaseModel):
    """The user dashboard, computed by one ``$facet``."""

    total: int
    by_status: dict[UserStatus, int]
    signups_this_month: int
    top_by_logins: list[UserSummary]
    computed_at: datetime | None = Field(
        default=None,
        description="When these figures were computed: a dashboard serves its last figures"
        " and recomputes them in the background once they are older than"
        " MONGOSHOP_DASHBOARD_REFRESH_SECONDS",
    )


class BulkStatusUpdate(InputModel):
    ids: Annotated[list[str], Field(min_length=1, max_length=1000)]
    status: UserStatus


class BulkStatusResult(BaseModel):
    modified: int


class Credentials(InputModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=256)]


class UserFilter(BaseModel):
    """Filters of the admin user list; all optional, combined with AND."""

    q: str | None = None
    status: UserStatus | None = None
    role: Role | None = None
