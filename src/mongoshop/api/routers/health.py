"""Liveness with a database check, for load balancers and the README's smoke test."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from pymongo.errors import PyMongoError

from mongoshop.api.deps import ShopDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


@router.get("/health", responses={503: {"model": Health, "description": "Database unreachable"}})
async def health(shop: ShopDep, response: Response) -> Health:
    """200 when the database answers ``ping``; 503 (within the configured timeouts) when not."""
    try:
        await shop.ping()
    except PyMongoError:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return Health(status="unavailable", database="unreachable")
    return Health(status="ok", database="ok")
