"""Pydantic models per aggregate, shared by both faces (no I/O here)."""

from mongoshop.models.common import Document, Page, PageRequest, PyObjectId, parse_object_id
from mongoshop.models.tokens import IssuedToken, TokenInDB
from mongoshop.models.users import (
    BulkStatusResult,
    BulkStatusUpdate,
    Credentials,
    Preferences,
    Role,
    UserCreate,
    UserFilter,
    UserInDB,
    UserPreferences,
    UserPublic,
    UserStats,
    UserStatus,
    UserSummary,
    UserUpdate,
)

__all__ = [
    "BulkStatusResult",
    "BulkStatusUpdate",
    "Credentials",
    "Document",
    "IssuedToken",
    "Page",
    "PageRequest",
    "Preferences",
    "PyObjectId",
    "Role",
    "TokenInDB",
    "UserCreate",
    "UserFilter",
    "UserInDB",
    "UserPreferences",
    "UserPublic",
    "UserStats",
    "UserStatus",
    "UserSummary",
    "UserUpdate",
    "parse_object_id",
]
