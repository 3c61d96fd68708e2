"""Repositories: one per collection, each declaring its indexes."""

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop._async.repositories.tokens import AsyncTokenRepository
from mongoshop._async.repositories.users import AsyncUserRepository

__all__ = ["AsyncRepository", "AsyncTokenRepository", "AsyncUserRepository"]
