"""A hostile SMTP server's reply, kept with the e-mail it refused."""

from __future__ import annotations

import aiosmtplib
from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.mail.documents import outbox_document
from mongoshop.models.mail import MailKind, OutboxItem
from mongoshop.worker.mail_sender import OutboxSender


class GarbledServer:
    """Fails every message with an error quoting the server's words: not UTF-8 (aiosmtplib
    decodes them with surrogates), with a forged line, running on for pages."""

    async def send(self, item: OutboxItem) -> None:
        raise aiosmtplib.SMTPServerDisconnected(
            "4.3.0 busy \udcff\udcfe\r\nX-Forged: yes " + "z" * 10_000
        )


async def test_a_reply_that_is_not_utf8_is_kept_printable_and_counted(ashop: AsyncShop) -> None:
    """Before, such an error could not be stored (BSON refuses lone surrogates): the record
    failed, the attempt was never counted, and the e-mail was tried every lease for ever."""
    await ashop.repositories.outbox.enqueue(
        outbox_document(MailKind.WELCOME, ObjectId(), "zoe@example.com", None, {"name": "Zoé"})
    )
    sender = OutboxSender(ashop.repositories.outbox, GarbledServer(), ashop.settings)

    assert await sender.send_some()

    [stored] = await ashop.repositories.outbox.collection.find().to_list()
    assert stored["status"] == "pending"
    assert stored["attempts"] == 1
    error = stored["last_error"]
    assert error.startswith("SMTPServerDisconnected: 4.3.0 busy")
    assert "\n" not in error
    assert error.isprintable()
    assert len(error) <= 200
