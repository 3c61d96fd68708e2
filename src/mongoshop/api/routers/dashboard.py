"""The admin dashboard page (`/admin`) and its static assets (`/admin/assets/...`).

The page is public like any login page: it holds no data. Everything it shows
comes from the admin API routes, called with the bearer token of an admin
(see `mongoshop.web`). Not part of the OpenAPI schema: it is no API.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mongoshop.web import ASSETS, DASHBOARD_PAGE

ASSETS_PATH = "/admin/assets"

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/admin")
async def dashboard_page() -> FileResponse:
    # no-cache: revalidated on each visit, so a new release's page is seen at once.
    return FileResponse(
        DASHBOARD_PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


def mount_assets(app: FastAPI) -> None:
    """Serve the page's scripts, styles and icon from the installed package."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="admin-assets")
