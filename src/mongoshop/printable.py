"""A peer's words (an SMTP server's reply, a receiver's answer), made safe to keep.

What a remote server says ends up in a stored document, a log line and the
dashboard. It may hold control characters (a forged log line), lone surrogates
(aiosmtplib decodes a reply that is not UTF-8 with ``surrogateescape``, and
BSON refuses to encode them: the record of the attempt then fails, again at
every attempt), or run on for pages.
"""

from __future__ import annotations

ERROR_EXCERPT = 200
"""Characters of a peer's words kept with an attempt."""


def printable(text: str, limit: int = ERROR_EXCERPT) -> str:
    """`text` bounded to `limit` characters, each unprintable one (control characters,
    lone surrogates, separators) a space."""
    return "".join(ch if ch.isprintable() else " " for ch in text[:limit]).strip()
