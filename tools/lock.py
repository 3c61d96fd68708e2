"""Pin every package the two README commands install: `requirements/*.txt`, with hashes.

`pyproject.toml` says which versions mongoshop works with (ranges); the lock
files say which exact files a fresh machine installs (``./scripts/serve``
from `service.txt`, ``./scripts/test`` from `dev.txt`), so that a machine next
year builds the same environment as today's CI. Each file starts with a digest
of the dependency lists it was compiled from; a test fails when `pyproject.toml`
changes and the lock does not (`tests/unit/test_lock.py`).

    pip install pip-tools          # once, anywhere
    python tools/lock.py           # re-resolve within the ranges (after editing them)
    python tools/lock.py --upgrade # move every pin to the newest version in range
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"service": (), "dev": ("dev",)}
"""Lock file name → the extras it includes."""
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def dependency_digest(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """A digest of what the locks are compiled from: the dependencies and the extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    source = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()


def lock_path(name: str) -> Path:
    return ROOT / "requirements" / f"{name}.txt"


def compile_lock(name: str, extras: tuple[str, ...], upgrade: bool) -> None:
    output = lock_path(name)
    output.parent.mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "piptools",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--allow-unsafe",  # pins setuptools too: the dev extra needs it
        "--strip-extras",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--output-file",
        str(output.relative_to(ROOT)),
        *(f"--extra={extra}" for extra in extras),
        *(["--upgrade"] if upgrade else []),
        "pyproject.toml",
    ]
    subprocess.run(command, cwd=ROOT, check=True)
    body = output.read_text()
    output.write_text(f"{DIGEST_PREFIX}{dependency_digest()}\n{body}")
    print(f"wrote {output.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest versions within range")
    args = parser.parse_args()
    for name, extras in LOCKS.items():
        compile_lock(name, extras, args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
