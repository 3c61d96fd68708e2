"""The admin dashboard: a static page and its assets, shipped inside the package.

Plain HTML, CSS and JavaScript modules, with no build step and nothing fetched
from another origin: the page reads the same JSON API as any other client, and
draws its charts as SVG with `assets/charts.js`. It runs under a strict
Content-Security-Policy (``default-src 'self'``): no inline script or style.
"""

from __future__ import annotations

from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent
DASHBOARD_PAGE = WEB_ROOT / "dashboard.html"
ASSETS = WEB_ROOT / "assets"

__all__ = ["ASSETS", "DASHBOARD_PAGE"]
