"""Types shared by every model: ObjectId, documents, pages."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from mongoshop.errors import InvalidId

Document = dict[str, Any]

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
EXAMPLE_ID = "6650f1c2a1b2c3d4e5f60718"


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


class InputModel(BaseModel):
    """Base of every request body: unknown keys (``$set``, ``a.b``, typos) are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StoredModel(BaseModel):
    """Base of models read from the database; ``_id`` becomes ``id``.

    Extra fields are ignored so a document written by a newer version still loads.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: PyObjectId = Field(alias="_id")


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, with what a client needs to fetch the others."""

    items: list[ItemT]
    total: int
    page: int
    page_size: int
    total_pages: int

    @classmethod
    def build(cls, items: list[ItemT], total: int, page: int, page_size: int) -> Page[ItemT]:
        return cls(
            items=items,
            total=total,
            page=page,
            page_size=page_size,
            total_pages=math.ceil(total / page_size) if page_size else 0,
        )


MAX_PAGE_SIZE = 100


class PageRequest(BaseModel):
    """Which page to fetch; `skip` follows from it."""

    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 20

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size
