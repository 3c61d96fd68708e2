"""The lock files match `pyproject.toml`: a fresh machine installs what CI tested.

`requirements/service.txt` (what ``./scripts/serve`` installs) and
`requirements/dev.txt` (``./scripts/test``) are compiled by ``python tools/lock.py``
from the ranges in `pyproject.toml`. When the ranges change and the locks do not,
these tests say so, and say how to fix it.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `python tools/lock.py` (with pip-tools installed) and commit requirements/"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", re.MULTILINE)


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(text: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def _direct(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


LOCKS = _tool().LOCKS


@pytest.mark.parametrize("name", LOCKS)
def test_the_lock_was_compiled_from_the_current_dependencies(name: str) -> None:
    tool = _tool()
    first_line = tool.lock_path(name).read_text().splitlines()[0]

    assert first_line == tool.DIGEST_PREFIX + tool.dependency_digest(), FIX


@pytest.mark.parametrize("name", LOCKS)
def test_every_dependency_is_pinned_within_its_range(name: str) -> None:
    pins = _pins(_tool().lock_path(name).read_text())

    for requirement in _direct(LOCKS[name]):
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements/{name}.txt: {FIX}"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{name}.txt pins {requirement.name}=={version}, outside"
            f" {requirement.specifier}: {FIX}"
        )


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_carries_hashes(name: str) -> None:
    """``pip install --require-hashes`` refuses a file whose hash is not listed."""
    text = _tool().lock_path(name).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)[1:]

    assert blocks
    for block in blocks:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_digest_follows_the_dependencies(tmp_path: Path) -> None:
    """The check can fail: another range gives another digest."""
    tool = _tool()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(
        (ROOT / "pyproject.toml").read_text().replace('"rich>=13,<16"', '"rich>=14,<16"')
    )

    assert tool.dependency_digest(changed) != tool.dependency_digest()
