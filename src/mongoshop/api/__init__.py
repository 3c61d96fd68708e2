"""The HTTP API (FastAPI) over the async face."""

from mongoshop.api.app import create_app

__all__ = ["create_app"]
