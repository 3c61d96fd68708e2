"""Services: the use cases, over repositories; no HTTP, no CLI."""

from mongoshop._async.services.auth import AsyncAuthService
from mongoshop._async.services.users import AsyncUserService

__all__ = ["AsyncAuthService", "AsyncUserService"]
