"""Types shared by every model: ObjectId, documents, pages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from bson import ObjectId
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from mongoshop.errors import InvalidId

Document = dict[str, Any]

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"


def parse_object_id(value: object) -> ObjectId:
    """An ObjectId from an ObjectId or a 24-hex string; anything else is an `InvalidId`.

    ``ObjectId.is_valid`` also accepts any 12-byte string, which is never what
    a caller meant, so the length is checked too.
    """
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and len(value) == 24 and ObjectId.is_valid(value):
        return ObjectId(value)
    raise InvalidId(f"{str(value)[:40]!r} is not a valid id (24 hexadecimal characters)")


def _validate_object_id(value: object) -> ObjectId:
    try:
        return parse_object_id(value)
    except InvalidId as exc:
        raise ValueError(exc.detail) from None


class _ObjectIdAnnotation:
    """Pydantic schema for ObjectId: an instance passes in the validator's fast path
    (no Python call per document read), a 24-hex string is parsed, JSON shows a string."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_string = core_schema.no_info_plain_validator_function(_validate_object_id)
        return core_schema.json_or_python_schema(
            json_schema=from_string,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(ObjectId), from_string]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": OBJECT_ID_PATTERN,
            "example": "6650f1c2a1b2c3d4e5f60718",
        }


PyObjectId = Annotated[ObjectId, _ObjectIdAnnotation]
"""An ObjectId inside Python and the database, a 24-hex string in JSON."""


_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Control characters (tab and line breaks excepted) and lone surrogates.

JSON may carry ``"\ud800"``, which Python decodes to a string that no UTF-8
encoder (BSON, argon2, a log line) accepts; control characters have no place
in names, descriptions or passwords and make stored text unprintable."""


def check_text(value: object) -> None:
    """Raise ValueError if a string, or any string inside lists and dicts, is not clean text."""
    if isinstance(value, str):
        found = _FORBIDDEN_CHARACTERS.search(value)
        if found is not None:
            code = ord(found.group())
            kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
            raise ValueError(f"contains {kind} (U+{code:04X}) at position {found.start()}")
    elif isinstance(value, list | tuple):
        for item in value:
            check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            check_text(item)


def dotted(fields: Mapping[str, Any], nested: Collection[str]) -> dict[str, Any]:
    """The ``$set`` of a partial update, each sub-object named in `nested` spread into paths.

    ``{"preferences": {"language": "fr"}}`` becomes ``{"preferences.language": "fr"}``:
    the sub-object's other fields keep their stored values instead of being reset. An
    empty sub-object changes nothing. Other values (a price: amount and currency go
    together) are set whole.
    """
    paths: dict[str, Any] = {}
    for key, value in fields.items():
        if key in nested and isinstance(value, Mapping):
            paths.update({f"{key}.{inner}": item for inner, item in value.items()})
        else:
            paths[key] = value
    return paths


def _whole_number(value: object) -> object:
    """JSON's ``12.0`` is the integer 12 (JSON Schema counts it as one too); 1.5, "12"
    and ``true`` are still refused by the strict integer check that follows."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole_number)
"""Put after ``Field(..., strict=True)`` on integers that come from JSON (after, so
that the Field's bounds still become ``minimum``/``maximum`` in the JSON Schema)."""


CLEAN_TEXT_PATTERN = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"
"""`check_text` as a JSON Schema pattern, so the OpenAPI contract says what is accepted."""
TRIMMED_PATTERN = r"^[^\s\x00-\x1F\x7F](?:[^\x00-\x1F\x7F]*[^\s\x00-\x1F\x7F])?$"
"""`check_trimmed` as a JSON Schema pattern."""


def check_trimmed(value: str) -> str:
    """Names are stored as sent, so they must not start or end with whitespace.

    (Refused rather than silently stripped: a stripped value could fall under
    a minimum length the client's own check, and the OpenAPI contract, had passed.)
    """
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


Trimmed = AfterValidator(check_trimmed)
"""Put on a name-like string, with ``Field(json_schema_extra={"pattern": TRIMMED_PATTERN})``."""


def _document_text_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Write the text rules and the no-null rule of an input model into its JSON Schema."""
    not_null: frozenset[str] = getattr(model, "not_null", frozenset())
    for name, field_schema in schema.get("properties", {}).items():
        if name in not_null and "anyOf" in field_schema:
            options = [o for o in field_schema.pop("anyOf") if o.get("type") != "null"]
            field_schema.update(options[0] if len(options) == 1 else {"anyOf": options})
        _add_clean_text(field_schema)


def _add_clean_text(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "enum", "format"} & schema.keys():
        schema["pattern"] = CLEAN_TEXT_PATTERN
    for option in schema.get("anyOf", ()):
        _add_clean_text(option)
    if isinstance(schema.get("items"), dict):
        _add_clean_text(schema["items"])


class InputModel(BaseModel):
    """Base of every request body.

    Unknown keys (``$set``, ``a.b``, typos) are refused, and every string must
    be clean text (see `check_text`); both rules are also in the JSON Schema.
    Values are taken as sent, never silently changed (no stripping).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_text_rules)

    not_null: ClassVar[frozenset[str]] = frozenset()
    """Fields that may be left out but not sent as null (partial updates): the rule is
    here, once, and in the JSON Schema (`_document_text_rules`)."""

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        check_text(value)
        return value

    @model_validator(mode="after")
    def _not_null(self) -> Self:
        for name in sorted(self.model_fields_set & self.not_null):
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class StoredModel(BaseModel):
    """Base of models read from the database; ``_id`` becomes ``id``.

    Extra fields are ignored so a document written by a newer version still loads.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: PyObjectId = Field(alias="_id")


ItemT = TypeVar("ItemT")
OtherT = TypeVar("OtherT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, with what a client needs to fetch the others."""

    items: list[ItemT]
    total: int
    page: int
    page_size: int
    total_pages: int
    next_after: Annotated[
        str | None,
        Field(
            description="Where the list supports it: pass as `after` for the next page"
            " (null: this is the last one). A page after an id costs the page at any depth,"
            " where `page` reads every document before it."
        ),
    ] = None

    @classmethod
    def build(
        cls,
        items: list[ItemT],
        total: int,
        page: int,
        page_size: int,
        *,
        next_after: str | None = None,
    ) -> Page[ItemT]:
        return cls(
            items=items,
            total=total,
            page=page,
            page_size=page_size,
            total_pages=math.ceil(total / page_size) if page_size else 0,
            next_after=next_after,
        )

    @classmethod
    def after_lookahead(
        cls, items: list[ItemT], total: int, paging: PageRequest, id_of: Callable[[ItemT], Any]
    ) -> Page[ItemT]:
        """The page from `items` read with one more than the page size: the extra one
        says there is a next page (`next_after`, the page's last id), without counting."""
        size = paging.page_size
        shown = items[:size]
        more = len(items) > size and bool(shown)
        return cls.build(
            shown, total, paging.page, size, next_after=str(id_of(shown[-1])) if more else None
        )

    def map(self, convert: Callable[[ItemT], OtherT]) -> Page[OtherT]:
        """The same page with each item converted (stored model → public one)."""
        return Page[OtherT](
            **self.model_dump(exclude={"items"}), items=[convert(item) for item in self.items]
        )


MAX_PAGE_SIZE = 100


class PageRequest(BaseModel):
    """Which page to fetch; `skip` follows from it."""

    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 20
    after: PyObjectId | None = None
    """Keyset pagination, where a list supports it: the page after this id (`page` ignored)."""

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size
