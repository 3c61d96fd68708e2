"""The index plan: what to keep, create, rebuild, drop, and what is not mongoshop's."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from mongoshop.index_plan import IndexSpec, plan_indexes


def spec(name: str, *keys: tuple[str, int], **options: object) -> IndexSpec:
    return IndexSpec.declared(IndexModel(list(keys), name=name, **options))


EMAIL = spec("email_unique", ("email", ASCENDING), unique=True)
NEWEST = spec("newest", ("created_at", DESCENDING), ("_id", DESCENDING))
STATUS = spec("status", ("status", ASCENDING))


def test_a_matching_index_is_kept_and_a_missing_one_created() -> None:
    existing = {"email_unique": EMAIL, "_id_": spec("_id_", ("_id", ASCENDING))}

    plan = plan_indexes("users", [EMAIL, STATUS], existing, owned={"email_unique"})

    assert (plan.keep, plan.create, plan.drop, plan.foreign) == ([EMAIL], [STATUS], [], [])
    assert plan.changes


def test_only_mongoshops_own_indexes_are_dropped_or_rebuilt() -> None:
    changed = spec("newest", ("created_at", DESCENDING))  # same name, other keys
    obsolete = spec("old_age", ("age", ASCENDING))
    foreign = spec("reporting", ("name", ASCENDING))
    existing = {"newest": changed, "old_age": obsolete, "reporting": foreign}

    plan = plan_indexes("users", [NEWEST], existing, owned={"newest", "old_age"})

    assert plan.rebuild == [(changed, NEWEST)]
    assert plan.drop == [obsolete]
    assert plan.foreign == [foreign]
    assert plan.create == []


def test_options_count_unique_is_not_the_same_index() -> None:
    plain = spec("email_unique", ("email", ASCENDING))

    plan = plan_indexes("users", [EMAIL], {"email_unique": plain}, owned={"email_unique"})

    assert plan.rebuild == [(plain, EMAIL)]


def test_a_declared_name_taken_by_someone_elses_index_is_a_conflict_not_a_rebuild() -> None:
    theirs = spec("status", ("status", DESCENDING))

    plan = plan_indexes("users", [STATUS], {"status": theirs}, owned=set())

    assert plan.conflicts == [(theirs, STATUS)]
    assert not plan.changes
    assert any("CONFLICT" in line for line in plan.lines())


def test_an_index_read_back_from_the_server_compares_equal_to_its_declaration() -> None:
    information = {"key": [("expires_at", 1)], "expireAfterSeconds": 0.0, "v": 2}
    declared = spec("expires_ttl", ("expires_at", ASCENDING), expireAfterSeconds=0)

    assert IndexSpec.existing("expires_ttl", information) == declared
