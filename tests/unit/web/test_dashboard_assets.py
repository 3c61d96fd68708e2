"""The admin dashboard's files: shipped in the wheel, and safe under a strict CSP."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mongoshop.web import ASSETS, DASHBOARD_PAGE, WEB_ROOT

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = WEB_ROOT.parent
SCRIPTS = sorted(ASSETS.glob("*.js"))


def web_files() -> list[Path]:
    return [
        path
        for path in WEB_ROOT.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]


def test_every_file_of_the_page_is_declared_as_package_data() -> None:
    """A non-editable install ships only what `package-data` names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["mongoshop"]
    files = web_files()

    assert DASHBOARD_PAGE in files
    assert {path.name for path in SCRIPTS} >= {"dashboard.js", "charts.js", "api.js"}
    for path in files:
        relative = path.relative_to(PACKAGE)
        assert any(relative.match(pattern) for pattern in patterns), relative


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = DASHBOARD_PAGE.read_text()

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html
    assert re.search(r"\sstyle=", html) is None
    assert re.search(r"\son[a-z]+=", html) is None
    assert re.search(r"(src|href)=\"(https?:)?//", html) is None, "only this origin"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_scripts_never_turn_data_into_markup_or_code(script: Path) -> None:
    code = script.read_text()

    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert forbidden not in code, forbidden
    assert re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"`]", code) is None
    assert re.search(r"\.setAttribute\(\s*['\"]style['\"]", code) is None
    assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", code) is None, "only this origin"


def test_the_webhooks_panel_offers_every_event_type_and_no_other() -> None:
    from mongoshop.models.webhooks import EventType

    script = (ASSETS / "webhooks.js").read_text()
    declared = re.search(r"export const EVENT_TYPES = \[(.*?)\];", script, re.S)
    assert declared is not None
    assert re.findall(r'"([a-z_.]+)"', declared.group(1)) == [kind.value for kind in EventType]
