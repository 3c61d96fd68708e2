"""E-mail templates: languages, escaping, and what a user's name can never change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from bson import ObjectId

from mongoshop.mail.documents import (
    outbox_document,
    registration_notice_document,
    verification_document,
    welcome_document,
)
from mongoshop.mail.templates import TEMPLATES, MailTemplate, render
from mongoshop.mail.transport import build_message
from mongoshop.models.mail import MailKind, OutboxItem
from mongoshop.models.users import UserInDB


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


AT = datetime(2026, 12, 4, tzinfo=UTC)


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
    stored = UserInDB.model_validate({**user, "created_at": AT, "updated_at": AT})
    items = {
        "welcome": welcome_document(stored),
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
