"""Imports only go down the layers: a module never imports one from a layer above it.

The layers, from the bottom: the core (models, settings, errors: no I/O), the
infrastructure (the database client, observability), the repositories, mail and
change-stream plumbing, the services, the applications (API, worker, the
`/metrics` route), the command line, and the package's own facade. A module
belongs to the layer of its longest listed prefix; a module in no layer fails
the test, so a new package has to be placed. Imports inside functions count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "mongoshop.__version__",
            "mongoshop.errors",
            "mongoshop.clock",
            "mongoshop.every",
            "mongoshop.backoff",
            "mongoshop.deadlines",
            "mongoshop.turns",
            "mongoshop.settings",
            "mongoshop.security",
            "mongoshop.search",
            "mongoshop.iterables",
            "mongoshop.validation",
            "mongoshop.fingerprints",
            "mongoshop.cache",
            "mongoshop.models",
            "mongoshop.demo",
            "mongoshop.importing",
            "mongoshop.index_plan",
            "mongoshop.validators",
            "mongoshop.printable",
            "mongoshop.deferral",
        ),
    ),
    ("infrastructure", ("mongoshop.db", "mongoshop.observability")),
    (
        "repositories",
        (
            "mongoshop._async.compat",
            "mongoshop._async.repositories",
            "mongoshop._async.transactions",
            "mongoshop._async.reconcile",
            "mongoshop._sync.compat",
            "mongoshop._sync.repositories",
            "mongoshop._sync.transactions",
            "mongoshop._sync.reconcile",
        ),
    ),
    (
        "mail and streams",
        ("mongoshop.mail", "mongoshop.streams", "mongoshop.webhooks", "mongoshop.queues"),
    ),
    (
        "services",
        (
            "mongoshop._async",
            "mongoshop._async.services",
            "mongoshop._async.shop",
            "mongoshop._sync",
            "mongoshop._sync.services",
            "mongoshop._sync.shop",
        ),
    ),
    (
        "applications",
        (
            "mongoshop.bootstrap",
            "mongoshop.seeding",
            "mongoshop.migrations",
            "mongoshop.events",
            "mongoshop.worker",
            "mongoshop.api",
            "mongoshop.web",
            "mongoshop.observability.route",
            "mongoshop.observability.server",
        ),
    ),
    ("command line", ("mongoshop.cli",)),
    ("facade", ("mongoshop",)),
]


def layer_of(module: str) -> int:
    """The index of `module`'s layer: its longest matching prefix decides."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (
                module.startswith(prefix + ".") and prefix != "mongoshop"
            )
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise LookupError(f"{module} is in no layer: add it to LAYERS in {__name__}")
    return best[1]


def module_name(path: Path, root: Path = SOURCE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) of each mongoshop import; ``from mongoshop import x`` is ``mongoshop.x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "mongoshop":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mongoshop":
                for alias in node.names:
                    yield node.lineno, f"mongoshop.{alias.name}"
            elif node.module.startswith("mongoshop."):
                yield node.lineno, node.module


def violations(root: Path = SOURCE) -> list[str]:
    found = []
    for path in sorted((root / "mongoshop").rglob("*.py")):
        module = module_name(path, root)
        here = layer_of(module)
        for line, target in imported(ast.parse(path.read_text())):
            there = layer_of(target)
            if there > here:
                found.append(
                    f"{path.relative_to(root)}:{line}: {module} ({LAYERS[here][0]}) imports"
                    f" {target} ({LAYERS[there][0]})"
                )
    return found


def test_no_import_runs_up_the_layers() -> None:
    assert violations() == []


def test_every_module_has_a_layer() -> None:
    for path in (SOURCE / "mongoshop").rglob("*.py"):
        layer_of(module_name(path))


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """A model that imports the API: the kind of import this test exists for."""
    package = tmp_path / "mongoshop" / "models"
    package.mkdir(parents=True)
    (package / "bad.py").write_text("from mongoshop.api.app import create_app\n")

    (problem,) = violations(tmp_path)

    assert "mongoshop.models.bad (core) imports mongoshop.api.app (applications)" in problem


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("mongoshop", "facade"),
        ("mongoshop.observability.metrics", "infrastructure"),
        ("mongoshop.observability.route", "applications"),
        ("mongoshop._async.repositories.users", "repositories"),
        ("mongoshop._sync.services.orders", "services"),
    ],
)
def test_the_longest_prefix_decides(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer


@pytest.mark.parametrize(
    "module", ["mongoshop.observability.server", "mongoshop.events.worker", "mongoshop.cli.worker"]
)
def test_the_worker_side_never_loads_the_api(module: str) -> None:
    """A worker deployed alone serves `/metrics` with the API's error answers, and nothing
    more of it: importing `mongoshop.api` (its `__init__`) must not load the app, the
    routers or their dependencies (issue 23)."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; print(sorted(m for m in sys.modules"
            " if m.startswith('mongoshop.api')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "mongoshop.api.app" not in loaded, loaded
    assert "mongoshop.api.routers" not in loaded, loaded


def test_the_sync_face_never_loads_the_async_one() -> None:
    """Scripts, the CLI's batch jobs, migrations and seeding run on the sync face: it is
    generated from the async source, and must not import it (issue 23: it did, through
    `event_time` living beside the stream consumer)."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mongoshop._sync.shop, mongoshop.seeding, mongoshop.migrations.runner;"
            " print(sorted(m for m in sys.modules if m.startswith('mongoshop._async')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "[]", loaded
