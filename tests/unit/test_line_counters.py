"""The line's counter when the server answers an upsert with no document (seen under the
chaos soak's burst of first writers on the embedded server): asked again, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from mongoshop._async.repositories.line import COUNTER_TRIES, AsyncLineCounters
from mongoshop.errors import Busy


class Answers:
    """A collection whose `find_one_and_update` gives these answers in turn."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.answers.pop(0)


def counters_with(collection: Answers) -> AsyncLineCounters:
    return AsyncLineCounters({AsyncLineCounters.collection_name: collection})  # type: ignore[arg-type]


async def test_no_document_back_is_asked_again() -> None:
    collection = Answers(None, None, {"_id": "mail", "head": 0, "tail": 12})
    assert await counters_with(collection).take("mail", 2) == 10
    assert collection.calls == 3


async def test_no_document_back_every_time_is_busy_not_an_assertion() -> None:
    collection = Answers(*([None] * COUNTER_TRIES))
    with pytest.raises(Busy):
        await counters_with(collection).take("mail", 1)
    assert collection.calls == COUNTER_TRIES
