"""An answer built from a listing's last computed page carries its age (``Age``)."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from mongoshop.api.middleware import ListingAge
from mongoshop.cache import note_age


def app_noting(*ages: float):  # type: ignore[no-untyped-def]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for age in ages:
            note_age(age)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def headers_of(*ages: float) -> dict[bytes, bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await ListingAge(app_noting(*ages))({"type": "http", "path": "/products"}, receive, send)
    return dict(sent[0]["headers"])


async def test_the_oldest_last_page_served_is_the_answers_age_in_whole_seconds() -> None:
    assert (await headers_of(2.2, 11.4))[b"age"] == b"12"


async def test_an_answer_from_current_pages_has_no_age() -> None:
    assert b"age" not in await headers_of()
