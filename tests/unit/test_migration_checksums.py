"""A migration's checksum covers its whole module, and migrations pin what they use.

An applied migration must never change. Its checksum used to cover its one
function: a helper or a constant beside it (such as the order version migration
0002 imported from the model, which moves with every later migration) could
change after it ran, unnoticed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mongoshop.migrations import MIGRATIONS
from mongoshop.migrations.runner import MODULE_CHECKSUM, Migration

MIGRATIONS_DIR = Path(inspect.getfile(Migration)).parent
ALLOWED = {"mongoshop.migrations.runner", "mongoshop.clock"}
"""What a migration may import of mongoshop: the runner, and the clock (a function)."""

MODULE = """
from mongoshop.migrations.runner import Step

VERSION = {version}


def helper() -> int:
    return VERSION


def up(step: Step) -> None:
    helper()
"""


def load(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_change_beside_the_function_changes_the_checksum(tmp_path: Path) -> None:
    before = load(tmp_path, "m9001_before", MODULE.format(version=2))
    after = load(tmp_path, "m9002_after", MODULE.format(version=3))
    first, second = Migration(9001, "x", before.up), Migration(9001, "x", after.up)

    assert inspect.getsource(before.up) == inspect.getsource(after.up)  # same function
    assert first.checksum != second.checksum
    assert first.checksum.startswith(MODULE_CHECKSUM)
    assert not second.matches(first.checksum)


def test_a_checksum_recorded_by_an_earlier_version_is_still_checked_on_the_function(
    tmp_path: Path,
) -> None:
    """Databases migrated before checksums covered the module hold the function's: they
    still start, and an edited function is still refused."""
    module = load(tmp_path, "m9003_legacy", MODULE.format(version=2))
    migration = Migration(9003, "x", module.up)
    legacy = hashlib.sha256(inspect.getsource(module.up).encode()).hexdigest()[:16]

    assert migration.matches(legacy)
    assert not migration.matches("0123456789abcdef")
    assert migration.matches(migration.checksum)


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("m[0-9]*.py")), ids=lambda p: p.stem)
def test_a_migration_imports_nothing_that_moves(path: Path) -> None:
    imported = {
        node.module
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mongoshop")
    }
    assert imported <= ALLOWED, f"{path.name} imports {imported - ALLOWED}: pin the values"


def test_the_check_of_imports_catches_a_migration_importing_a_model(tmp_path: Path) -> None:
    path = tmp_path / "m9004_bad.py"
    path.write_text("from mongoshop.models.orders import ORDER_VERSION\n")
    with pytest.raises(AssertionError, match="pin the values"):
        test_a_migration_imports_nothing_that_moves(path)


def test_every_shipped_migration_has_a_module_checksum() -> None:
    for migration in MIGRATIONS:
        assert migration.checksum.startswith(MODULE_CHECKSUM)
        assert migration.matches(migration.checksum)
