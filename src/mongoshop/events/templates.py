"""E-mail templates, plain text and HTML, in the recipient's language where we have it."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from string import Template

from mongoshop.models.mail import MailKind

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class MailTemplate:
    subject: str
    text: str
    html: str


TEMPLATES: dict[tuple[MailKind, str], MailTemplate] = {
    (MailKind.WELCOME, "en"): MailTemplate(
        subject="Welcome to mongoshop, $name!",
        text="Hello $name,\n\nWelcome to mongoshop. Your account $email is ready.\n\n"
        "— The mongoshop team\n",
        html="<p>Hello $name,</p><p>Welcome to mongoshop. Your account <b>$email</b> is ready.</p>"
        "<p>— The mongoshop team</p>",
    ),
    (MailKind.WELCOME, "fr"): MailTemplate(
        subject="Bienvenue sur mongoshop, $name !",
        text="Bonjour $name,\n\nBienvenue sur mongoshop. Votre compte $email est prêt.\n\n"
        "— L'équipe mongoshop\n",
        html="<p>Bonjour $name,</p><p>Bienvenue sur mongoshop. Votre compte <b>$email</b> "
        "est prêt.</p><p>— L'équipe mongoshop</p>",
    ),
    (MailKind.ORDER_CONFIRMATION, "en"): MailTemplate(
        subject="Your mongoshop order $order_id",
        text="Hello $name,\n\nThank you for your order $order_id:\n$lines\nTotal: $total\n\n"
        "— The mongoshop team\n",
        html="<p>Hello $name,</p><p>Thank you for your order <b>$order_id</b>:</p>"
        "<ul>$html_lines</ul><p>Total: <b>$total</b></p><p>— The mongoshop team</p>",
    ),
    (MailKind.ORDER_CONFIRMATION, "fr"): MailTemplate(
        subject="Votre commande mongoshop $order_id",
        text="Bonjour $name,\n\nMerci pour votre commande $order_id :\n$lines\nTotal : $total\n\n"
        "— L'équipe mongoshop\n",
        html="<p>Bonjour $name,</p><p>Merci pour votre commande <b>$order_id</b> :</p>"
        "<ul>$html_lines</ul><p>Total : <b>$total</b></p><p>— L'équipe mongoshop</p>",
    ),
}


def format_money(amount: int, currency: str) -> str:
    """Minor units as text: 123456 EUR → "1234.56 EUR" (no float involved)."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d} {currency}"


def render(
    kind: MailKind,
    language: str | None,
    values: dict[str, str],
    lines: list[str] | None = None,
) -> MailTemplate:
    """The e-mail in `language` (its base language, else English) with `values` filled in.

    Values are escaped for the HTML part; `lines` become a list in both parts.
    """
    base = (language or DEFAULT_LANGUAGE).split("-")[0]
    template = TEMPLATES.get((kind, base)) or TEMPLATES[(kind, DEFAULT_LANGUAGE)]
    lines = lines or []
    text_values = {**values, "lines": "\n".join(f"- {line}" for line in lines), "html_lines": ""}
    html_values = {key: escape(value) for key, value in values.items()}
    html_values["html_lines"] = "".join(f"<li>{escape(line)}</li>" for line in lines)
    html_values["lines"] = ""
    return MailTemplate(
        subject=Template(template.subject).safe_substitute(values),
        text=Template(template.text).safe_substitute(text_values),
        html=Template(template.html).safe_substitute(html_values),
    )
