"""The one e-mail about webhooks: "your endpoint kept failing and was turned off"."""

from __future__ import annotations

import secrets
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from .config import AppConfig
from .i18n import gettext
from .mailer import OutgoingMail


def disabled_notice(config: AppConfig, *, to: str, locale: str, url: str, reason: str,
                    organization_id: int, now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    subject = _("Webhook endpoint turned off")
    page = f"{config.base_url}/organizations/{organization_id}/webhooks"
    body = "\n\n".join([
        _("Your webhook endpoint kept failing and has been turned off:"),
        f"{url}\n{_('Last error')}: {reason}",
        _("Its undelivered messages are kept. Fix the receiver, then turn the endpoint on "
          "again on this page; they will be sent:"),
        page,
    ]) + "\n"
    message = EmailMessage()
    message["From"] = formataddr((config.mail_from_name, config.mail_from))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message_id = f"<{secrets.token_hex(16)}@{config.uid_domain}>"
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return OutgoingMail(sender=config.mail_from, recipient=to, raw=message.as_bytes(policy=SMTP),
                        message_id=message_id, subject=subject, date=now)
