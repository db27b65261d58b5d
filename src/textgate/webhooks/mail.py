"""Email as a delivery channel of the outbox.

Some providers report by email (delivery reports as HTML, replies to an address given with the send).
Rather than a second queue, an outbox delivery may target a ``mailto:`` URL — the address, with the
subject in the URL's ``?subject=`` — and the webhook worker hands it to the configured SMTP relay
instead of POSTing it. Durability, retries, ordering, the attempt log and replay come for free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, quote, unquote, urlsplit

import aiosmtplib

from textgate.config import Settings
from textgate.domain.errors import ValidationError

# Deliberately plain: a local part and a domain with a dot. Exotic-but-valid addresses are rare in
# reply-to settings; a typo caught at the API is worth more.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def check_address(address: str, *, field: str) -> str:
    address = address.strip()
    if len(address) > 254 or not _ADDRESS.match(address):
        raise ValidationError(f"{address!r} is not an email address", field=field)
    return address


def mailto(address: str, subject: str) -> str:
    return f"mailto:{quote(address, safe='@')}?subject={quote(subject)}"


@dataclass(frozen=True, slots=True)
class MailTarget:
    address: str
    subject: str


def parse_mailto(url: str, *, field: str = "url") -> MailTarget:
    parts = urlsplit(url)
    if parts.scheme != "mailto":
        raise ValidationError("not a mailto: URL", field=field)
    address = check_address(unquote(parts.path), field=field)
    subject = parse_qs(parts.query).get("subject", ["textgate"])[0]
    return MailTarget(address, subject)


class MailNotConfigured(RuntimeError):
    pass


async def send_mail(settings: Settings, target: MailTarget, body: str, content_type: str | None) -> None:
    """Hand one message to the SMTP relay. Raises on any failure (the caller retries)."""
    if not settings.smtp_host:
        raise MailNotConfigured("no SMTP relay configured (TEXTGATE_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = target.address
    message["Subject"] = target.subject
    subtype = "html" if (content_type or "").startswith("text/html") else "plain"
    message.set_content(body, subtype=subtype)
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=settings.webhook_timeout,
    )
