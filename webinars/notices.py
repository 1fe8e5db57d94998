"""Plain-text e-mails to organizers (not to members): a webhook endpoint turned off, a meeting
that could not be made, a platform connection that stopped working."""

from __future__ import annotations

import secrets
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from .config import AppConfig
from .i18n import gettext
from .mailer import OutgoingMail


def organizer_notice(config: AppConfig, *, to: str, subject: str, paragraphs: list[str],
                     now: datetime) -> OutgoingMail:
    message = EmailMessage()
    message["From"] = formataddr((config.mail_from_name, config.mail_from))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message_id = f"<{secrets.token_hex(16)}@{config.uid_domain}>"
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join(paragraphs) + "\n")
    return OutgoingMail(sender=config.mail_from, recipient=to, raw=message.as_bytes(policy=SMTP),
                        message_id=message_id, subject=subject, date=now)


def disabled_notice(config: AppConfig, *, to: str, locale: str, url: str, reason: str,
                    organization_id: int, now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, subject=_("Webhook endpoint turned off"), now=now,
                            paragraphs=[
        _("Your webhook endpoint kept failing and has been turned off:"),
        f"{url}\n{_('Last error')}: {reason}",
        _("Its undelivered messages are kept. Fix the receiver, then turn the endpoint on "
          "again on this page; they will be sent:"),
        f"{config.base_url}/organizations/{organization_id}/webhooks",
    ])


def meeting_failed_notice(config: AppConfig, *, to: str, locale: str, title: str,
                          webinar_id: int, organization_id: int, when: str, reason: str,
                          now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, now=now,
                            subject=_("The meeting could not be created: {0}").format(title),
                            paragraphs=[
        _("The conferencing platform did not create the meeting of «{0}» ({1}).")
        .format(title, when),
        f"{_('Reason')}: {reason}",
        _("Members cannot join until it is fixed. Reconnect the platform, or edit the webinar "
          "and paste a link of your own:"),
        f"{config.base_url}/organizations/{organization_id}/platforms",
        f"{config.base_url}/webinars/{webinar_id}/edit",
    ])


def connection_broken_notice(config: AppConfig, *, to: str, locale: str, platform: str,
                             label: str, organization_id: int, reason: str, next_title: str,
                             next_when: str, now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, now=now,
                            subject=_("Reconnect {0}").format(label), paragraphs=[
        _("The {0} account connected for your organization stopped working.").format(label),
        f"{_('Reason')}: {reason}",
        _("The next webinar that needs it: «{0}», {1}. Reconnect before then:")
        .format(next_title, next_when),
        f"{config.base_url}/organizations/{organization_id}/platforms#{platform}",
    ])


def plan_reminder_notice(config: AppConfig, *, to: str, locale: str, title: str, when: str,
                         owner: str, organization: str, webinar_id: int, organization_id: int,
                         now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, now=now,
                            subject=_("A plan item to take up: {0}").format(title),
                            paragraphs=[
        _("{0} reminds you of «{1}» ({2}) in its plan.").format(owner, title, when),
        _("{0} has not joined it or run its own copy yet. Join it (your members register for "
          "the shared event) or copy it with your own date:").format(organization),
        f"{config.base_url}/webinars/{webinar_id}/adopt?organization_id={organization_id}",
    ])


def original_changed_notice(config: AppConfig, *, to: str, locale: str, title: str,
                            original: str, copy_id: int, changes: list[tuple[str, str, str]],
                            now: datetime) -> OutgoingMail:
    """`changes`: (field label, old, new), already in the organizer's language."""
    _ = lambda text: gettext(locale, text)
    lines = "\n".join(f"{_(label)}: {old} → {new}" for label, old, new in changes)
    return organizer_notice(config, to=to, now=now,
                            subject=_("The original of your event changed: {0}").format(title),
                            paragraphs=[
        _("«{0}», the event your «{1}» was copied from, has changed:").format(original, title),
        lines,
        _("Your copy was not changed. To follow the original, edit your event:"),
        f"{config.base_url}/webinars/{copy_id}/edit",
    ])


def invitation_notice(config: AppConfig, *, to: str, locale: str, inviter: str,
                      organization: str, role: str, link: str, expires: str,
                      now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, now=now,
                            subject=_("You are invited to plan events of {0}").format(
                                organization), paragraphs=[
        _("{0} invites you to {1} as {2}.").format(inviter, organization, _(role)),
        _("Choose your password with this link (it works once, until {0}):").format(expires),
        link,
        _("Then sign in with this e-mail address and that password."),
    ])


def password_reset_notice(config: AppConfig, *, to: str, locale: str, link: str,
                          expires: str, now: datetime) -> OutgoingMail:
    _ = lambda text: gettext(locale, text)
    return organizer_notice(config, to=to, now=now, subject=_("Set a new password"),
                            paragraphs=[
        _("Someone (you, we hope) asked to set a new password for this address."),
        _("Choose your new password with this link (it works once, until {0}):").format(
            expires),
        link,
        _("If it was not you, ignore this message: your password stays as it is."),
    ])
