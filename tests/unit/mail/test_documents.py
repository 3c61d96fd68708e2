"""The outbox's documents: one e-mail per recipient, kind and subject."""

from __future__ import annotations

from bson import ObjectId

from mongoshop.models.mail import MailKind, outbox_key


def test_outbox_key_makes_one_email_per_recipient_kind_and_subject() -> None:
    user = ObjectId("6650f1c2a1b2c3d4e5f60718")
    assert outbox_key(MailKind.WELCOME, user, "Zoe@Example.com") == (
        "welcome:6650f1c2a1b2c3d4e5f60718:zoe@example.com"
    )
