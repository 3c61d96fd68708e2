"""User models: validation rules that protect the database from bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from pydantic import BaseModel, ValidationError

from mongoshop.errors import InvalidId
from mongoshop.models.common import Page, PyObjectId, parse_object_id
from mongoshop.models.users import (
    Credentials,
    Role,
    UserCreate,
    UserInDB,
    UserPublic,
    UserStatus,
    UserUpdate,
)

VALID = {"name": "Élodie Dupont", "email": "Elodie@Example.COM", "password": "correct horse"}


def test_email_is_lower_cased_so_comparison_is_case_insensitive() -> None:
    assert UserCreate(**VALID).email == "elodie@example.com"
    assert Credentials(email="ELODIE@example.com", password="x").email == "elodie@example.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "A"),
        ("name", "x" * 101),
        ("email", "not-an-email"),
        ("password", "short"),
        ("age", 17),
        ("age", 121),
        ("name", {"$ne": ""}),
        ("email", {"$gt": ""}),
    ],
)
def test_registration_refuses_invalid_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        UserCreate(**{**VALID, field: value})


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: x@evil.example",
        "Eve\nSmith",
        "Eve\rSmith",
        "Eve\x85Smith",
        "Eve\u2028Smith",
        "Eve\u2029Smith",
        "Eve\x0bSmith",
    ],
    ids=["crlf", "lf", "cr", "nel", "line-separator", "paragraph-separator", "vertical-tab"],
)
def test_a_name_is_a_single_line(name: str) -> None:
    with pytest.raises(ValidationError, match=r"single line|control character"):
        UserCreate(**{**VALID, "name": name})
    with pytest.raises(ValidationError, match=r"single line|control character"):
        UserUpdate(name=name)


def test_an_address_must_be_mailable_without_smtputf8() -> None:
    with pytest.raises(ValidationError, match="before the @ must be ASCII"):
        UserCreate(**{**VALID, "email": "zoé@example.com"})
    # An international domain is kept, in the ASCII form every mail server accepts.
    assert UserCreate(**{**VALID, "email": "Zoe@Bücher.de"}).email == "zoe@xn--bcher-kva.de"
    assert Credentials(email="zoe@bücher.de", password="x").email == "zoe@xn--bcher-kva.de"


@pytest.mark.parametrize("extra", ["$set", "status", "roles", "password_hash", "a.b"])
def test_registration_refuses_unknown_and_privileged_fields(extra: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        UserCreate(**{**VALID, extra: "admin"})


def test_preferences_validate_language_and_time_zone() -> None:
    ok = UserCreate(**VALID, preferences={"language": "fr", "timezone": "Europe/Paris"})
    assert ok.preferences.language == "fr"
    with pytest.raises(ValidationError, match="unknown time zone"):
        UserCreate(**VALID, preferences={"timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError):
        UserCreate(**VALID, preferences={"language": "french"})


def test_update_keeps_only_fields_sent_and_allows_clearing_age() -> None:
    update = UserUpdate(age=None)
    assert update.model_dump(exclude_unset=True) == {"age": None}
    assert UserUpdate().model_dump(exclude_unset=True) == {}


@pytest.mark.parametrize("field", ["name", "preferences", "password", "status", "roles"])
def test_update_refuses_null_for_fields_that_cannot_be_empty(field: str) -> None:
    with pytest.raises(ValidationError, match="may not be null"):
        UserUpdate(**{field: None})


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("SubscriptionUpdate", "url"),  # issue 23: accepted, and did nothing
        ("SubscriptionUpdate", "event_types"),
        ("SubscriptionUpdate", "status"),
        ("ProductUpdate", "price"),
        ("UserUpdate", "current_password"),
    ],
)
def test_every_partial_update_refuses_null_where_its_schema_says_so(model: str, field: str) -> None:
    """One rule, in `InputModel`: what `not_null` names, the schema refuses and so does the
    model, for every partial update alike."""
    from mongoshop.models import products, users, webhooks

    cls = {
        "SubscriptionUpdate": webhooks.SubscriptionUpdate,
        "ProductUpdate": products.ProductUpdate,
        "UserUpdate": users.UserUpdate,
    }[model]
    assert field in cls.not_null
    with pytest.raises(ValidationError, match=f"{field} may not be null"):
        cls.model_validate({field: None})
    schema = cls.model_json_schema()["properties"][field]
    assert "anyOf" not in schema or all(s.get("type") != "null" for s in schema["anyOf"])


def test_update_names_the_fields_only_admins_may_change() -> None:
    assert UserUpdate(name="Bob", status="suspended").admin_fields == {"status"}
    assert UserUpdate(roles=["admin"]).admin_fields == {"roles"}
    assert UserUpdate(name="Bob").admin_fields == set()
    with pytest.raises(ValidationError):
        UserUpdate(roles=["superuser"])
    with pytest.raises(ValidationError):
        UserUpdate(roles=[])


def _stored() -> UserInDB:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    return UserInDB.model_validate(
        {
            "_id": ObjectId("6650f1c2a1b2c3d4e5f60718"),
            "name": "Ada",
            "email": "ada@example.com",
            "password_hash": "$argon2id$secret",
            "search_tokens": ["ada"],
            "created_at": now,
            "updated_at": now,
            "roles": ["user", "admin"],
            "a_field_from_a_newer_version": 1,
        }
    )


def test_stored_user_maps_underscore_id_and_ignores_unknown_fields() -> None:
    user = _stored()
    assert user.id == ObjectId("6650f1c2a1b2c3d4e5f60718")
    assert user.is_admin
    assert user.status is UserStatus.ACTIVE


def test_public_user_never_carries_the_password_hash_or_tokens() -> None:
    public = UserPublic.of(_stored()).model_dump(mode="json")
    assert public["id"] == "6650f1c2a1b2c3d4e5f60718"
    assert "password_hash" not in public
    assert "search_tokens" not in public
    assert "_id" not in public
    assert public["roles"] == [Role.USER, Role.ADMIN]


class _WithId(BaseModel):
    id: PyObjectId


def test_object_id_is_an_object_id_inside_and_a_string_in_json() -> None:
    model = _WithId(id="6650f1c2a1b2c3d4e5f60718")  # type: ignore[arg-type]
    assert isinstance(model.id, ObjectId)
    assert model.model_dump() == {"id": ObjectId("6650f1c2a1b2c3d4e5f60718")}
    assert model.model_dump_json() == '{"id":"6650f1c2a1b2c3d4e5f60718"}'
    schema = _WithId.model_json_schema()["properties"]["id"]
    assert schema["type"] == "string"
    assert schema["pattern"] == "^[0-9a-fA-F]{24}$"


@pytest.mark.parametrize("bad", ["", "zzz", "6650f1c2a1b2c3d4e5f6071", "abcdefghijkl", 12, None])
def test_malformed_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidId):
        parse_object_id(bad)
    with pytest.raises(ValidationError):
        _WithId(id=bad)  # type: ignore[arg-type]


def test_page_computes_total_pages() -> None:
    assert Page[int].build([1, 2], total=41, page=1, page_size=20).total_pages == 3
    assert Page[int].build([], total=0, page=1, page_size=20).total_pages == 0


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "Mars/Olympus", "utc+1"])
def test_a_time_zone_is_an_iana_name(name: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        UserUpdate.model_validate({"preferences": {"timezone": name}})
    assert UserUpdate.model_validate({"preferences": {"timezone": "Europe/Paris"}})
