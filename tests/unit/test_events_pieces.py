"""Mail templates, money formatting, the read cache and the sender's back-off: no database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import aiosmtplib
import pytest
from bson import ObjectId

from mongoshop.cache import Listings, ReadCache
from mongoshop.mail.documents import (
    outbox_document,
    registration_notice_document,
    verification_document,
    welcome_document,
)
from mongoshop.mail.templates import TEMPLATES, MailTemplate, render
from mongoshop.mail.transport import build_message
from mongoshop.models.mail import MailKind, OutboxItem, outbox_key
from mongoshop.models.money import format_money
from mongoshop.settings import Settings


def test_money_is_formatted_from_minor_units_without_floats() -> None:
    assert format_money(123456, "EUR") == "1234.56 EUR"
    assert format_money(5, "EUR") == "0.05 EUR"
    assert format_money(-250, "USD") == "-2.50 USD"


def test_welcome_is_rendered_in_the_users_language_with_english_as_fallback() -> None:
    values = {"name": "Zoé", "email": "zoe@example.com"}
    assert render(MailKind.WELCOME, "fr", values).subject == "Bienvenue sur mongoshop !"
    assert "Bonjour Zoé" in render(MailKind.WELCOME, "fr", values).text
    assert render(MailKind.WELCOME, "fr-CA", values).subject.startswith("Bienvenue")
    assert render(MailKind.WELCOME, "de", values).subject == "Welcome to mongoshop!"
    assert "Hello Zoé" in render(MailKind.WELCOME, "de", values).text
    assert render(MailKind.WELCOME, None, values).subject.startswith("Welcome")


def test_values_are_escaped_in_html_but_not_in_text() -> None:
    mail = render(
        MailKind.ORDER_CONFIRMATION,
        "en",
        {"name": "<script>x</script>", "order_id": "1", "total": "1.00 EUR"},
        ["1 x Mug & Co — 1.00 EUR"],
    )
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "<li>1 x Mug &amp; Co — 1.00 EUR</li>" in mail.html
    assert "<script>x</script>" in mail.text
    assert "- 1 x Mug & Co — 1.00 EUR" in mail.text


def test_outbox_key_makes_one_email_per_recipient_kind_and_subject() -> None:
    user = ObjectId("6650f1c2a1b2c3d4e5f60718")
    assert outbox_key(MailKind.WELCOME, user, "Zoe@Example.com") == (
        "welcome:6650f1c2a1b2c3d4e5f60718:zoe@example.com"
    )


def welcome_item() -> OutboxItem:
    now = datetime.now(UTC)
    return OutboxItem.model_validate(
        {
            "_id": "welcome:6650f1c2a1b2c3d4e5f60718:zoe@example.com",
            "kind": "welcome",
            "to": "zoe@example.com",
            "subject": "Hi",
            "text": "plain",
            "html": "<p>html</p>",
            "status": "pending",
            "available_at": now,
            "created_at": now,
        }
    )


def test_messages_carry_a_stable_message_id_and_both_parts() -> None:
    item = welcome_item()
    first, second = build_message(item, "shop <a@b.c>"), build_message(item, "shop <a@b.c>")
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"] == "<welcome.6650f1c2a1b2c3d4e5f60718.zoe.example.com@mongoshop>"
    parts = [part.get_content_type() for part in first.walk()]
    assert "text/plain" in parts
    assert "text/html" in parts


def test_sender_logs_name_the_e_mail_but_not_the_address() -> None:
    from mongoshop.mail.sender import loggable

    assert loggable(welcome_item()) == "welcome:6650f1c2a1b2c3d4e5f60718"


class OneItemOutbox:
    """Hands out one item, then records what the sender says of it."""

    def __init__(self, item: OutboxItem) -> None:
        self.item: OutboxItem | None = item
        self.errors: list[str] = []

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> OutboxItem | None:
        item, self.item = self.item, None
        return item

    async def mark_failed_attempt(
        self, key: str, owner: str, error: str, retry_at: datetime | None
    ) -> bool:
        self.errors.append(error)
        return True


class RefusingTransport:
    async def send(self, item: OutboxItem) -> None:
        raise aiosmtplib.SMTPRecipientRefused(550, f"5.1.1 <{item.to}>: no such user", item.to)


@pytest.mark.parametrize("attempts", [1, 10], ids=["retried", "given up"])
async def test_an_smtp_refusal_quoting_the_address_is_logged_without_it(
    attempts: int, caplog: pytest.LogCaptureFixture
) -> None:
    from mongoshop.mail.sender import OutboxSender

    item = welcome_item().model_copy(update={"attempts": attempts})
    outbox = OneItemOutbox(item)
    settings = Settings(environment="test", mail_max_attempts=10)  # type: ignore[call-arg]
    sender = OutboxSender(outbox, RefusingTransport(), settings)  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="mongoshop"):
        assert await sender.send_one()

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "SMTPRecipientRefused (SMTP 550)" in logged
    assert "zoe" not in logged.lower()
    assert "zoe@example.com" in outbox.errors[0]  # kept with the item, for the admin


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_read_cache_expires_after_its_ttl() -> None:
    clock = FakeClock()
    cache: ReadCache[str] = ReadCache(ttl=30, clock=clock)
    key = ObjectId()
    cache.put(key, "v1")
    clock.now = 29.9
    assert cache.get(key) == "v1"
    clock.now = 30.0
    assert cache.get(key) is None


def test_read_cache_evicts_on_invalidation_and_the_least_recently_used_when_full() -> None:
    cache: ReadCache[int] = ReadCache(ttl=60, max_entries=2)
    a, b, c = ObjectId(), ObjectId(), ObjectId()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1  # a is now the most recently used
    cache.put(c, 3)
    assert cache.get(b) is None
    assert cache.get(a) == 1
    cache.invalidate(a)
    assert cache.get(a) is None
    cache.clear()
    assert len(cache) == 0


def test_a_zero_ttl_disables_the_cache() -> None:
    cache: ReadCache[int] = ReadCache(ttl=0)
    key = ObjectId()
    cache.put(key, 1)
    assert cache.get(key) is None


def test_sender_backoff_doubles_and_is_capped() -> None:
    from mongoshop.mail.sender import MAX_BACKOFF, OutboxSender
    from mongoshop.settings import Settings

    sender = OutboxSender(
        outbox=None,  # type: ignore[arg-type]
        transport=None,  # type: ignore[arg-type]
        settings=Settings(mail_retry_base_seconds=2),  # type: ignore[call-arg]
    )
    assert sender.backoff(1) == timedelta(seconds=2)
    assert sender.backoff(3) == timedelta(seconds=8)
    assert sender.backoff(50) == MAX_BACKOFF


def test_the_collector_is_paused_for_a_batch_and_restored_even_on_error() -> None:
    import gc

    import pytest

    from mongoshop.validation import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause does not re-enable it early
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


PRODUCT_LISTING_FIELDS = frozenset({"category", "price", "tags", "search_tokens"})


def update_event(*fields: str, removed: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "operationType": "update",
        "documentKey": {"_id": ObjectId()},
        "updateDescription": {
            "updatedFields": {field: 1 for field in fields},
            "removedFields": list(removed),
        },
    }


def test_listing_pages_are_dropped_by_changes_to_what_listings_filter_or_sort_on() -> None:
    listings = Listings(ttl=60, fields=PRODUCT_LISTING_FIELDS)

    assert listings.affected_by(update_event("price.amount", "updated_at"))
    assert listings.affected_by(update_event("updated_at", removed=("tags",)))
    assert listings.affected_by({"operationType": "insert", "documentKey": {"_id": 1}})
    assert listings.affected_by({"operationType": "delete", "documentKey": {"_id": 1}})
    assert listings.affected_by({"operationType": "replace", "documentKey": {"_id": 1}})
    # A stock level or a timestamp moves no document in, out of or within a page.
    assert not listings.affected_by(update_event("inventory.quantity", "updated_at"))
    truncated = update_event("updated_at")
    truncated["updateDescription"]["truncatedArrays"] = [{"field": "tags", "newSize": 1}]  # type: ignore[index]
    assert listings.affected_by(truncated)


def test_listing_pages_expire_and_clear() -> None:
    clock = FakeClock()
    listings = Listings(ttl=30, fields=PRODUCT_LISTING_FIELDS, clock=clock)
    ids = [ObjectId(), ObjectId()]
    listings.put(("kitchen", 0, 20), ids, 2)
    assert listings.get(("kitchen", 0, 20)) == (ids, 2)
    assert listings.get(("garden", 0, 20)) is None
    clock.now = 30.0
    assert listings.get(("kitchen", 0, 20)) is None
    listings.put(("kitchen", 0, 20), ids, 2)
    listings.clear()
    assert len(listings) == 0


HOSTILE_NAMES = {
    "encoded words": "=?utf-8?q?=0D=0AContent-Type:_text/html=0D=0A=0D=0A"
    "<a_href=3Dhttp://evil.example>Reset</a>?=",
    "bcc by encoded word": "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?=",
    "crlf": "Eve\r\nBcc: victim@evil.example\r\n\r\n<a href=x>Reset</a>",
    "lf": "Eve\nSubject: pwned",
    "nel U+0085": "Eve\x85Bcc: victim@evil.example",
    "line separator U+2028": "Eve\u2028Bcc: victim@evil.example",
    "paragraph separator U+2029": "Eve\u2029Bcc: victim@evil.example",
}


def every_mail(name: str) -> dict[str, OutboxItem]:
    """Every kind of e-mail the project sends, to a user called `name`, as the outbox holds it."""
    user = {"_id": ObjectId(), "name": name, "email": "eve@example.com", "preferences": {}}
    items = {
        "welcome": welcome_document(user),
        "order confirmation": outbox_document(
            MailKind.ORDER_CONFIRMATION,
            ObjectId(),
            "eve@example.com",
            "fr",
            {"name": name, "email": "eve@example.com", "order_id": str(ObjectId()), "total": "1"},
            [f"1 x {name} — 1.00 EUR"],
        ),
        "verification": verification_document(user, "d" * 64, "t" * 43, timedelta(days=1)),
        "registration notice": registration_notice_document(user, "2026-11-27"),
    }
    assert {kind.value for kind in MailKind} == {
        "welcome",
        "order_confirmation",
        "verify_email",
        "registration_notice",
    }, "a new kind of e-mail: add it here"
    return {label: OutboxItem.model_validate(item) for label, item in items.items()}


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_no_name_changes_the_headers_or_the_structure_of_any_mail(name: str) -> None:
    for label, item in every_mail(name).items():
        raw = bytes(build_message(item, "shop@example.com"))
        parsed = message_from_bytes(raw, policy=policy.default)

        assert sorted(parsed.keys()) == sorted(
            [
                "From",
                "To",
                "Subject",
                "Message-ID",
                "X-Mongoshop-Key",
                "MIME-Version",
                "Content-Type",
            ]
        ), label
        assert parsed["To"] == "eve@example.com", label
        assert parsed["Subject"] == item.subject, label
        assert "evil" not in str(parsed["Subject"])
        assert "Eve" not in str(parsed["Subject"])
        parts = [part.get_content_type() for part in parsed.walk()]
        assert parts == ["multipart/alternative", "text/plain", "text/html"], label
        html = parsed.get_body(("html",))
        assert html is not None
        assert "<a href" not in html.get_content(), label


def test_a_subject_may_not_take_a_typed_value() -> None:
    TEMPLATES[(MailKind.WELCOME, "xx")] = MailTemplate(subject="Hi $name", text="", html="")
    try:
        with pytest.raises(ValueError, match="may not go into a subject"):
            render(MailKind.WELCOME, "xx", {"name": "Eve"})
    finally:
        del TEMPLATES[(MailKind.WELCOME, "xx")]
