"""E-mail over SMTP with aiosmtplib (async: a slow mail server never blocks the hub's event loop).
``tls``: "starttls" (port 587), "tls" (implicit, 465) or "none" (a relay on the loopback or LAN)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib

from floorops.config import ConfigError
from hub.notify import DeliveryError, Message
from hub.roster import Person

NAME = "smtp"


class SmtpChannel:
    name = NAME

    def __init__(self, host: str, port: int, sender: str, username: str = "", password: str = "",
                 tls: str = "starttls", timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.tls, self.timeout_s = username, password, tls, timeout_s

    def __repr__(self) -> str:  # the password stays out of logs
        return f"SmtpChannel({self.host}:{self.port})"

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "SmtpChannel":
        unknown = set(section) - {"host", "port", "sender", "username", "password", "tls", "timeout_s"}
        if unknown:
            raise ConfigError(f"channels.smtp: unknown keys {sorted(unknown)}")
        host, port, sender = section.get("host"), section.get("port", 587), section.get("sender")
        tls = section.get("tls", "starttls")
        if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError("channels.smtp: host (a name) and port (1..65535) are required")
        if not isinstance(sender, str) or "@" not in sender:
            raise ConfigError("channels.smtp.sender: the From address, e.g. floorops@hospital.example")
        if tls not in ("starttls", "tls", "none"):
            raise ConfigError("channels.smtp.tls: starttls, tls or none")
        return cls(host, port, sender, str(section.get("username", "")), str(section.get("password", "")), tls,
                   float(section.get("timeout_s", 10.0)))

    def address(self, person: Person) -> str | None:
        return person.email or None

    def email(self, m: Message) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = m.address
        msg["Subject"] = m.title
        if m.key:
            msg["X-FloorOps-Key"] = m.key  # the same on a resend: a mail rule can drop the repeat
        msg.set_content(m.text + (f"\n\n{m.link}" if m.link else ""))
        for name, mime, content in m.attachments:
            maintype, _, subtype = mime.partition("/")  # not a topic: a MIME type such as text/csv
            if maintype == "text":  # UTF-8 text, so a mail client shows the Chinese
                msg.add_attachment(content, subtype=subtype or "plain", charset="utf-8", filename=name)
            else:
                msg.add_attachment(content.encode("utf-8"), maintype=maintype, subtype=subtype or "octet-stream",
                                   filename=name)
        if m.urgent:
            msg["Importance"] = "high"
            msg["X-Priority"] = "1"
        return msg

    async def send(self, message: Message, session: aiohttp.ClientSession) -> None:
        try:
            await aiosmtplib.send(
                self.email(message), hostname=self.host, port=self.port, username=self.username or None,
                password=self.password or None, use_tls=self.tls == "tls", start_tls=self.tls == "starttls",
                timeout=self.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc}"[:300], final=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}"[:300], final=500 <= exc.code < 600) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None


from_config = SmtpChannel.from_config  # the registry builds the channel from its section with this
