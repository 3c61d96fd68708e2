"""Imports only go down the layers: a module never imports one from a layer above it.

The layers, from the bottom: the core (models, settings, errors: no I/O), the pure
packages both faces use (mail documents and transport, webhook events, signing and
targets, what a change event says), the infrastructure (the database client,
observability, HTTP plumbing), the repositories, the services (the two faces), the
jobs on the sync face (migrations, seeding), the worker (every background loop),
the applications (bootstrap, API, dashboard), the command line, and the package's
own facade. A module belongs to the layer of its longest listed prefix; a module in
no layer fails the test, so a new package has to be placed. Imports inside
functions count too (a lazy import is still a dependency), and so does what a
package's `__init__` imports: importing `mongoshop.a.b` runs `mongoshop/a/__init__.py`.

Two rules cut across the layers: nothing under `_sync` imports `_async` (the sync
face is generated from the async one and stands alone), and nothing outside
`mongoshop.api` and `mongoshop.cli` imports `mongoshop.api` (the worker never
loads the API).
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
            "mongoshop.collection_schemas",
            "mongoshop.printable",
            "mongoshop.deferral",
        ),
    ),
    ("pure packages", ("mongoshop.mail", "mongoshop.streams", "mongoshop.webhooks")),
    ("infrastructure", ("mongoshop.db", "mongoshop.observability", "mongoshop.http")),
    (
        "repositories",
        (
            "mongoshop._async.compat",
            "mongoshop._async.repositories",
            "mongoshop._async.transactions",
            "mongoshop._async.declarations",
            "mongoshop._sync.compat",
            "mongoshop._sync.repositories",
            "mongoshop._sync.transactions",
            "mongoshop._sync.declarations",
        ),
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
    ("jobs", ("mongoshop.seeding", "mongoshop.migrations")),
    ("worker", ("mongoshop.worker",)),
    (
        "applications",
        (
            "mongoshop.bootstrap",
            "mongoshop.api",
            "mongoshop.web",
            "mongoshop.observability.route",
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


def ancestors(module: str) -> list[str]:
    """The packages whose `__init__` importing `module` runs (the facade's is lazy)."""
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(2, len(parts))]


def init_imports(package: str, root: Path, seen: set[str] | None = None) -> Iterator[str]:
    """What importing `package` (its `__init__`, and theirs in turn) imports."""
    seen = set() if seen is None else seen
    if package in seen:
        return
    seen.add(package)
    init = root.joinpath(*package.split("."), "__init__.py")
    if not init.exists():
        return
    for _, target in imported(ast.parse(init.read_text())):
        yield target
        for parent in [*ancestors(target), target]:
            yield from init_imports(parent, root, seen)


def rule_broken(module: str, target: str) -> str | None:
    """The cross-layer rule `module` importing `target` breaks, if any."""
    if module.startswith("mongoshop._sync") and target.startswith("mongoshop._async"):
        return "the sync face imports the async one"
    inside = module.startswith(("mongoshop.api", "mongoshop.cli"))
    if not inside and (target == "mongoshop.api" or target.startswith("mongoshop.api.")):
        return "only mongoshop.api and mongoshop.cli import mongoshop.api"
    return None


def violations(root: Path = SOURCE) -> list[str]:
    found = []
    for path in sorted((root / "mongoshop").rglob("*.py")):
        module = module_name(path, root)
        here = layer_of(module)
        where = f"{path.relative_to(root)}"
        for line, target in imported(ast.parse(path.read_text())):
            # Importing `target` runs its packages' `__init__`s, and so does importing
            # `module` itself (its own packages').
            loaded = [(target, "")]
            for package in dict.fromkeys([*ancestors(target), *ancestors(module)]):
                loaded += [
                    (side, f" through {package}'s __init__") for side in init_imports(package, root)
                ]
            for imports, how in loaded:
                there = layer_of(imports)
                if there > here:
                    found.append(
                        f"{where}:{line}: {module} ({LAYERS[here][0]}) imports"
                        f" {imports} ({LAYERS[there][0]}){how}"
                    )
                rule = rule_broken(module, imports)
                if rule is not None:
                    found.append(f"{where}:{line}: {module} imports {imports}{how}: {rule}")
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

    problems = violations(tmp_path)

    assert any(
        "mongoshop.models.bad (core) imports mongoshop.api.app (applications)" in problem
        for problem in problems
    ), problems


def test_the_check_sees_what_a_package_init_imports(tmp_path: Path) -> None:
    """A repository that imports `mongoshop._async.compat` runs `_async/__init__.py`: if
    that imported the shop, the repository would load the services above it."""
    package = tmp_path / "mongoshop" / "_async"
    (package / "repositories").mkdir(parents=True)
    (package / "__init__.py").write_text("from mongoshop._async.shop import AsyncShop\n")
    (package / "compat.py").write_text("")
    (package / "repositories" / "users.py").write_text(
        "from mongoshop._async.compat import Background\n"
    )

    problems = violations(tmp_path)

    assert any(
        "mongoshop._async.repositories.users (repositories) imports mongoshop._async.shop"
        " (services) through mongoshop._async's __init__" in problem
        for problem in problems
    ), problems


def test_the_check_catches_the_sync_face_importing_the_async_one(tmp_path: Path) -> None:
    package = tmp_path / "mongoshop" / "_sync" / "services"
    package.mkdir(parents=True)
    (package / "users.py").write_text("from mongoshop._async.compat import Background\n")

    (problem,) = violations(tmp_path)

    assert "the sync face imports the async one" in problem


def test_the_check_catches_an_import_of_the_api_from_below_it(tmp_path: Path) -> None:
    """The worker is below the API (its import is upward) and must not load it;
    `mongoshop.web` is beside the API and must not either."""
    for name, source in (("worker", "metrics_server.py"), ("web", "pages.py")):
        package = tmp_path / "mongoshop" / name
        package.mkdir(parents=True)
        (package / source).write_text("from mongoshop.api.deps import ShopDep\n")

    problems = violations(tmp_path)

    assert sum("only mongoshop.api and mongoshop.cli import" in p for p in problems) == 2, problems


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
    "module",
    ["mongoshop.worker.metrics_server", "mongoshop.worker.event_worker", "mongoshop.cli.worker"],
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
