"""Sending the digest by e-mail: the message (text and HTML parts) and the SMTP delivery.

The server, port, sender, security and username come from settings.yaml (`digest.smtp`);
the password only from the environment (KPI_SMTP_PASSWORD) or .streamlit/secrets.toml
(`password` under [smtp]), which git ignores, so no committed file ever holds it. Every
failure (no settings, no password, a server that cannot be reached or refuses) is one
sentence saying what to do.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tomllib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from kpi.core.settings import ROOT, SmtpSettings

PASSWORD_ENV = "KPI_SMTP_PASSWORD"
SECRETS_PATH = ROOT / ".streamlit" / "secrets.toml"
TIMEOUT_SECONDS = 30


class DeliveryError(RuntimeError):
    """The digest could not be sent; the message says why and what to do."""


def smtp_password(secrets_path: Path | None = None) -> str | None:
    """The SMTP password: KPI_SMTP_PASSWORD, else `password` under [smtp] in secrets.toml."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    path = secrets_path or SECRETS_PATH
    if not path.is_file():
        return None
    try:
        secrets = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DeliveryError(
            f"{path} cannot be read ({type(exc).__name__}): correct it, or set {PASSWORD_ENV}"
        ) from None
    smtp = secrets.get("smtp")
    password = smtp.get("password") if isinstance(smtp, dict) else None
    return str(password) if password else None


def digest_message(
    subject: str, sender: str, to: Sequence[str], text: str, html: str
) -> EmailMessage:
    """One message with the text part first and the HTML part as its alternative."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(
    message: EmailMessage, smtp: SmtpSettings | None, secrets_path: Path | None = None
) -> None:
    """Deliver `message` through the configured server, or DeliveryError saying why not."""
    if smtp is None:
        raise DeliveryError(
            "No mail server is set: add `digest: {smtp: {host, port, sender, security, "
            "username}}` to config/settings.yaml (README, 'The digest by e-mail')"
        )
    password = None
    if smtp.username:
        password = smtp_password(secrets_path)
        if not password:
            raise DeliveryError(
                f"No SMTP password for {smtp.username}: set {PASSWORD_ENV} in the "
                "environment, or `password` under [smtp] in .streamlit/secrets.toml"
            )
    where = f"{smtp.host}:{smtp.port}"
    try:
        if smtp.security == "ssl":
            server = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS)
        with server:
            if smtp.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                server.login(smtp.username, password or "")
            refused = server.send_message(message, from_addr=smtp.sender)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(
            f"The mail server {where} refused the sign-in of {smtp.username}: check "
            f"digest.smtp.username in settings.yaml and the password ({PASSWORD_ENV})"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(
            f"The mail server {where} does not offer what settings.yaml asks "
            f"({exc}): check digest.smtp.security and username"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"The mail server {where} refused every recipient "
            f"({', '.join(exc.recipients)}): check their addresses in config/people.yaml"
        ) from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"The mail server {where} refused the digest: {exc}") from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"No secure connection to {where} ({exc.reason or exc}): check digest.smtp.security "
            "(starttls on 587, ssl on 465) and the port"
        ) from None
    except OSError as exc:
        raise DeliveryError(
            f"The mail server {where} cannot be reached ({exc.strerror or exc}): check "
            "digest.smtp.host and port in settings.yaml, and that this computer may reach it"
        ) from None
    if refused:
        raise DeliveryError(
            f"Sent, but the mail server {where} refused {', '.join(sorted(refused))}: check "
            "their addresses in config/people.yaml"
        )
