"""The docs name only what exists: every setting and every command they mention is real.

A renamed variable or command leaves the README and `docs/` pointing at nothing;
these tests read the Markdown and check each name against the code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from mongoshop.cli.main import app
from mongoshop.settings import Settings, variable_name

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

TEST_VARIABLES = {
    "MONGOSHOP_TEST_MONGODB_URI": "tests/conftest.py",
    "MONGOSHOP_CHROMIUM": "tests/browser/conftest.py",
    "MONGOSHOP_TEST_ARTIFACTS": "tests/browser/conftest.py",
    "MONGOSHOP_TRACE_DUMP": "tests/e2e/test_tracing.py",
}
"""Variables the test suite reads (not the service): where each is read."""

VARIABLE = re.compile(r"\b(?:MONGOSHOP|MONGODB)_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
INLINE_COMMAND = re.compile(r"`(mongoshop [a-z][^`]*)`")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _text() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def _commands() -> set[str]:
    text = _text()
    found = set(INLINE_COMMAND.findall(text))
    for block in FENCE.findall(text):
        found |= {line.strip() for line in block.splitlines() if line.startswith("mongoshop ")}
    return found


def _resolves(command: str) -> bool:
    """Does `mongoshop a b ...` name a command of the CLI (its options aside)?"""
    node: Any = typer.main.get_command(app)
    words = command.split()[1:]
    if not words:
        return False
    for word in words:
        if not hasattr(node, "commands"):
            return True  # a leaf command: the rest are its arguments and options
        if word.startswith("-"):
            return word == "--help"  # a group's options: only its help runs alone
        node = node.commands.get(word)
        if node is None:
            return False
    return not hasattr(node, "commands")  # a group alone runs nothing


def test_every_variable_in_the_docs_is_a_setting_or_a_test_variable() -> None:
    settings = {variable_name(name) for name in Settings.model_fields}
    named = set(VARIABLE.findall(_text()))

    unknown = sorted(named - settings - TEST_VARIABLES.keys())

    assert not unknown, f"the docs name variables nothing reads: {unknown}"


@pytest.mark.parametrize(("variable", "reader"), TEST_VARIABLES.items())
def test_each_test_variable_is_read_where_it_is_said_to_be(variable: str, reader: str) -> None:
    assert variable in (ROOT / reader).read_text()


def test_the_docs_name_commands() -> None:
    """The check below has something to check (a regex that found nothing passes all)."""
    assert {"mongoshop serve", "mongoshop worker"} <= {c.split(" [")[0] for c in _commands()}


def test_every_command_in_the_docs_exists() -> None:
    unknown = sorted(command for command in _commands() if not _resolves(command))

    assert not unknown, f"the docs name commands the CLI does not have: {unknown}"


def test_the_check_refuses_a_command_that_does_not_exist() -> None:
    assert _resolves("mongoshop db init")
    assert not _resolves("mongoshop db frobnicate")
    assert not _resolves("mongoshop db")  # a group alone runs nothing
