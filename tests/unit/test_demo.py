"""Demo data: deterministic, valid, unique."""

from __future__ import annotations

from mongoshop.demo import demo_user_fields
from mongoshop.models.users import UserCreate


def test_demo_data_is_deterministic_valid_and_unique() -> None:
    first = list(demo_user_fields(300, seed=3))
    assert first == list(demo_user_fields(300, seed=3))
    assert first != list(demo_user_fields(300, seed=4))
    assert len({user["email"] for user in first}) == 300
    for user in first[:50]:
        UserCreate(**user, password="demo-password")  # type: ignore[arg-type]
