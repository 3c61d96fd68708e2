"""Held inserts: only those of the holding session, given back in order, by collection."""

from __future__ import annotations

from mongoshop.deferral import held_for, holding_inserts


def test_inserts_are_held_for_the_holding_session_only() -> None:
    session, other = object(), object()
    assert held_for(session) is None
    with holding_inserts(session) as held:
        assert held_for(session) is held
        assert held_for(other) is None
        assert held_for(None) is None
    assert held_for(session) is None


def test_held_inserts_come_back_by_collection_each_in_its_order() -> None:
    orders, ledger = object(), object()
    with holding_inserts(object()) as held:
        held.add(orders, {"n": 1})
        held.add(ledger, {"n": 2})
        held.add(orders, {"n": 3})
        held.add(ledger, {"n": 4})
    assert held.by_collection() == [
        (orders, [{"n": 1}, {"n": 3}]),
        (ledger, [{"n": 2}, {"n": 4}]),
    ]
