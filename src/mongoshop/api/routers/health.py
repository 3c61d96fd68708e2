"""Liveness with a database check, for load balancers and the README's smoke test."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from mongoshop.api.deps import ShopDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    writes: Literal["ok", "failing", "stalled", "unchecked"] = Field(
        description="Each collection's last write probe: `failing` when one failed,"
        " `stalled` when a collection's writes have failed for MONGOSHOP_WRITE_STALL_SECONDS"
        " (the database may still answer ping), `unchecked` before every collection was"
        " probed once or with the probes off"
    )
    stalled_collections: list[str] = Field(description="The collections whose writes hang")
    code: Literal["current", "outdated"] = Field(
        default="current",
        description="`outdated` once a newer version of the code has migrated the database"
        " since this process started: it must be replaced by the newer code (the log says"
        " which migration)",
    )


@router.get(
    "/health",
    responses={
        503: {
            "model": Health,
            "description": "Database unreachable, writes stalled, or this code outdated",
        }
    },
)
async def health(shop: ShopDep, request: Request, response: Response) -> Health:
    """200 when the database answers ``ping``, every collection takes writes and no newer
    code has migrated the database since this process started; else 503 (within the
    configured timeouts), naming what failed."""
    watch = getattr(request.app.state, "write_watch", None)
    stalled = watch.stalled() if watch is not None else []
    writes: Literal["ok", "failing", "stalled", "unchecked"] = "ok"
    if stalled:
        writes = "stalled"
    elif watch is None or not watch.checked:
        writes = "unchecked"
    elif watch.failing_since:
        writes = "failing"
    try:
        await shop.ping()
    except PyMongoError:
        database: Literal["ok", "unreachable"] = "unreachable"
    else:
        database = "ok"
    schema_watch = getattr(request.app.state, "schema_watch", None)
    outdated = schema_watch is not None and schema_watch.outdated is not None
    healthy = database == "ok" and not stalled and not outdated
    if not healthy:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return Health(
        status="ok" if healthy else "unavailable",
        database=database,
        writes=writes,
        stalled_collections=stalled,
        code="outdated" if outdated else "current",
    )
