"""What to do to a collection's indexes so they match the declared ones: the plan.

Pure (no I/O): the declared indexes (each repository's `indexes`), the indexes
the server has, and the names mongoshop owns (recorded when it created them) go
in; a `CollectionPlan` comes out. An index mongoshop does not own is never
dropped or rebuilt, whatever its name: another team's, or an operator's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import IndexModel

OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")
"""The options that make two indexes with the same keys different ones."""

ID_INDEX = "_id_"


@dataclass(frozen=True)
class IndexSpec:
    """An index as compared: its name, its keys in order, the options that matter."""

    name: str
    keys: tuple[tuple[str, Any], ...]
    options: tuple[tuple[str, Any], ...] = ()
    source: IndexModel | None = field(default=None, compare=False, repr=False)
    """The declaration itself, for creating the index exactly as declared."""

    @classmethod
    def declared(cls, model: IndexModel) -> IndexSpec:
        document = model.document
        return cls(
            name=str(document["name"]),
            keys=tuple((str(k), v) for k, v in document["key"].items()),
            options=_options(document),
            source=model,
        )

    @classmethod
    def existing(cls, name: str, information: Mapping[str, Any]) -> IndexSpec:
        """From one entry of ``index_information()``."""
        return cls(
            name=name,
            keys=tuple((str(k), v) for k, v in information["key"]),
            options=_options(information),
        )

    def describe(self) -> str:
        keys = ", ".join(f"{key}: {direction}" for key, direction in self.keys)
        options = "".join(f", {name}={value!r}" for name, value in self.options)
        return f"{self.name} ({keys}{options})"

    def model(self) -> IndexModel:
        """What to create: the declaration (only declared indexes are ever created)."""
        if self.source is None:
            raise ValueError(f"{self.name} is not a declared index: nothing creates it")
        return self.source


def _options(document: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    found = []
    for name in OPTIONS:
        value = document.get(name)
        if value in (None, False):
            continue
        if name == "expireAfterSeconds":
            value = int(value)
        if isinstance(value, Mapping):
            value = _frozen(value)
        found.append((name, value))
    return tuple(found)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((str(k), _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass
class CollectionPlan:
    """One collection's indexes: what is right, and what `--apply` would change."""

    collection: str
    keep: list[IndexSpec] = field(default_factory=list)
    adopt: list[IndexSpec] = field(default_factory=list)
    """Kept ones not yet recorded as mongoshop's (a database from before the record)."""
    create: list[IndexSpec] = field(default_factory=list)
    rebuild: list[tuple[IndexSpec, IndexSpec]] = field(default_factory=list)
    """(as it is, as declared): mongoshop's index under that name, with other keys or options."""
    drop: list[IndexSpec] = field(default_factory=list)
    """mongoshop's, no longer declared."""
    foreign: list[IndexSpec] = field(default_factory=list)
    """Not mongoshop's: left as they are."""
    conflicts: list[tuple[IndexSpec, IndexSpec]] = field(default_factory=list)
    """(as it is, as declared): a declared name taken by an index mongoshop does not own."""
    validator: dict[str, Any] | None = None
    """The validator to set (`mongoshop.collection_schemas`), when the server's is another one."""
    validator_missing: bool = False
    """No validator at all yet: set at start-up, as a missing index is created."""

    @property
    def changes(self) -> bool:
        return bool(self.create or self.rebuild or self.drop or self.validator)

    def lines(self) -> Iterable[str]:
        """The plan, one line per index, as ``mongoshop db indexes`` prints it."""
        for spec in self.keep:
            yield f"{self.collection}: keep {spec.describe()}"
        for spec in self.create:
            yield f"{self.collection}: create {spec.describe()}"
        for old, new in self.rebuild:
            yield f"{self.collection}: rebuild {old.describe()} as {new.describe()}"
        for spec in self.drop:
            yield f"{self.collection}: drop {spec.describe()} (mongoshop's, no longer declared)"
        for spec in self.foreign:
            yield f"{self.collection}: leave {spec.describe()} (not mongoshop's)"
        if self.validator is not None:
            what = "set" if self.validator_missing else "replace"
            yield f"{self.collection}: {what} the validator (generated from the model)"
        for old, new in self.conflicts:
            yield (
                f"{self.collection}: CONFLICT {old.describe()} is not mongoshop's but has the"
                f" declared name of {new.describe()}: rename or drop it by hand"
            )


def plan_indexes(
    collection: str,
    declared: Iterable[IndexSpec],
    existing: Mapping[str, IndexSpec],
    owned: Iterable[str],
) -> CollectionPlan:
    """What to create, rebuild and drop so that `existing` matches `declared`.

    An index counts as mongoshop's when its name is in `owned`: one it recorded
    when it created it. The `_id` index is nobody's to touch.
    """
    plan = CollectionPlan(collection)
    owned_names = set(owned)
    declared_by_name = {spec.name: spec for spec in declared}
    for name, spec in declared_by_name.items():
        current = existing.get(name)
        if current is None:
            plan.create.append(spec)
        elif (current.keys, current.options) == (spec.keys, spec.options):
            plan.keep.append(current)
            if name not in owned_names:
                plan.adopt.append(current)
        elif name in owned_names:
            plan.rebuild.append((current, spec))
        else:
            plan.conflicts.append((current, spec))
    for name, current in existing.items():
        if name == ID_INDEX or name in declared_by_name:
            continue
        (plan.drop if name in owned_names else plan.foreign).append(current)
    return plan
