"""Where e-mails go: an SMTP server (aiosmtplib), or .eml files when none is configured."""

from __future__ import annotations

import asyncio
import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from mongoshop.models.mail import OutboxItem
from mongoshop.settings import Settings


class MailTransport(Protocol):
    async def send(self, item: OutboxItem) -> None:
        """Deliver the e-mail or raise; raising means "try again later"."""


def build_message(item: OutboxItem, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = item.to
    message["Subject"] = item.subject
    # A stable Message-ID lets a receiving server recognise a duplicate delivery.
    message["Message-ID"] = "<" + re.sub(r"[^\w.-]", ".", item.key) + "@mongoshop>"
    message["X-Mongoshop-Key"] = item.key
    message.set_content(item.text)
    message.add_alternative(item.html, subtype="html")
    return message


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SmtpTransport needs MONGOSHOP_SMTP_HOST")
        self.settings = settings
        self.hostname = settings.smtp_host

    async def send(self, item: OutboxItem) -> None:
        settings = self.settings
        await aiosmtplib.send(
            build_message(item, settings.mail_from),
            hostname=self.hostname,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )


class EmlDirectoryTransport:
    """Writes each e-mail to ``<data dir>/mail/<key>.eml``: the embedded default, for demos."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def path_for(self, item: OutboxItem) -> Path:
        return self.directory / (re.sub(r"[^\w.@-]", "_", item.key) + ".eml")

    async def send(self, item: OutboxItem) -> None:
        await asyncio.to_thread(self._write, item)

    def _write(self, item: OutboxItem) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(item)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(bytes(build_message(item, self.sender)))
        os.replace(temporary, target)


def transport_for(settings: Settings) -> MailTransport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return EmlDirectoryTransport(settings.data_dir / "mail", settings.mail_from)
