"""Server-side validation: a `$jsonSchema` for each collection, derived from its model.

The stored-document models (`UserInDB`, `OrderInDB`...) are the one source of
truth: the validator is generated from their fields, never written by hand. It
checks what a reader relies on (the required fields and the BSON type of every
known field, enum values, nested documents and arrays) and allows fields it does
not know (a derived `search_tokens`, a field a migration is adding), so it
refuses a broken write from a shell or another service without freezing the
shape. A field with a default may be absent: documents written before it existed
still load.
"""

from __future__ import annotations

import types
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from bson import ObjectId
from pydantic import BaseModel

NUMBER = ["int", "long", "double", "decimal"]
INTEGER = ["int", "long"]

STRICT = "strict"
MODERATE = "moderate"
"""While a migration that changes the shape runs: documents that do not match yet may
still be updated (their rewrite is the migration's job); new ones must match."""


def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The ``$jsonSchema`` of documents stored as `model`."""
    return _object_schema(model)


def _object_schema(model: type[BaseModel]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        stored = field.alias or name
        properties[stored] = _schema_of(field.annotation)
        if field.is_required():
            required.append(stored)
    schema: dict[str, Any] = {"bsonType": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _schema_of(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _schema_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        nullable = len(options) < len(get_args(annotation))
        schema: dict[str, Any] = (
            _schema_of(options[0])
            if len(options) == 1
            else {"anyOf": [_schema_of(o) for o in options]}
        )
        if nullable:
            if "bsonType" in schema and "enum" not in schema:
                types_ = schema["bsonType"]
                schema["bsonType"] = [*(types_ if isinstance(types_, list) else [types_]), "null"]
            else:
                schema = {"anyOf": [schema, {"bsonType": "null"}]}
        return schema
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if origin in (list, tuple, set, frozenset):
        args = get_args(annotation)
        items: dict[str, Any] = {"bsonType": "array"}
        if args and args[0] is not Any:
            items["items"] = _schema_of(args[0])
        return items
    if origin is dict:
        return {"bsonType": "object"}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _object_schema(annotation)
        if issubclass(annotation, Enum):
            return {"enum": [member.value for member in annotation]}
        if issubclass(annotation, bool):
            return {"bsonType": "bool"}
        if issubclass(annotation, int):
            return {"bsonType": INTEGER}
        if issubclass(annotation, float):
            return {"bsonType": NUMBER}
        if issubclass(annotation, str):
            return {"bsonType": "string"}
        if issubclass(annotation, datetime):
            return {"bsonType": "date"}
        if issubclass(annotation, ObjectId):
            return {"bsonType": "objectId"}
    return {}  # Any, or a type the validator does not constrain
