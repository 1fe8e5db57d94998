"""The one place that knows the platforms.

Per platform: its name (stored on webinars), label, how its link is made, the pattern a link
pasted for it must match, the credentials an organization enters for it (the organizer form
and the API are built from this schema) and its adapter's factory. Validation, the form, the
OpenAPI enums and the labels all read this table; core modules import only this module and
`integrations.base`. Adding a platform is one adapter module plus one entry below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp

from . import (
    bigbluebutton,
    google_meet,
    jitsi,
    jitsi_tokens,
    mts_link,
    static,
    teams,
    telemost,
    webex,
    zoom,
)
from .base import Adapter
from .http import AdapterContext, PlatformHttp, TokenCache

__all__ = ["CONNECTABLE", "NO_MEETING", "PASTE_PLATFORMS", "PLATFORMS", "WEBINAR_PLATFORMS", "Field",
           "Platform", "TokenCache", "check_pasted_url", "guess_pasted_platform",
           "make_adapter"]


@dataclass(frozen=True)
class Field:
    """One credential or setting an organization enters for a platform."""

    name: str
    label: str
    #: Stored encrypted, never shown back in full, never logged.
    secret: bool = False
    required: bool = True
    #: "text", "url", "email", "textarea" or "choice".
    kind: str = "text"
    choices: tuple[str, ...] = ()
    default: str = ""
    help: str = ""
    max_length: int = 4000


@dataclass(frozen=True)
class Platform:
    name: str
    label: str
    #: "dynamic": the adapter makes the meeting; "static": the organizer pastes a link;
    #: "paste": a service with no adapter whose links may be pasted (VK calls, other);
    #: "none": no online meeting at all (a contest, a PR action).
    link_kind: str
    #: What a link pasted for this platform must look like (full URL, https only).
    url_pattern: re.Pattern[str] | None
    fields: tuple[Field, ...] = ()
    factory: Callable[[AdapterContext], Adapter] | None = None
    #: Where attendance comes from: "webhooks", "report" (polled) or "clicks" (our /j/ page).
    attendance: str = "clicks"
    #: Each member gets their own link from the platform (signed, registered, tokens).
    personal_links: bool = False
    #: A separate host link exists (fetched or signed when the host clicks "start").
    host_link: bool = False
    #: `update` keeps the same meeting (and link) when the webinar moves.
    moves: bool = True

    @property
    def needs_connection(self) -> bool:
        return any(f.required for f in self.fields)

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)


def _url(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


HTTPS_ANY = _url(r"^https://[^/\s]+(/\S*)?$")
WEBHOOK_SECRET_HELP = "The secret the platform signs its webhooks with; empty: no webhooks."

PLATFORMS: dict[str, Platform] = {p.name: p for p in (
    Platform(
        "jitsi", "Jitsi Meet", "dynamic", HTTPS_ANY,
        factory=jitsi.JitsiAdapter,
    ),
    Platform(
        "static", "Your own link", "static", None,
        factory=static.StaticLinkAdapter,
    ),
    Platform(
        "bigbluebutton", "BigBlueButton", "dynamic", HTTPS_ANY,
        fields=(
            Field("api_url", "API address", kind="url",
                  help="https://bbb.example.org/bigbluebutton/api"),
            Field("shared_secret", "Shared secret", secret=True,
                  help="`bbb-conf --secret` on the server"),
            Field("checksum", "Checksum algorithm", kind="choice",
                  choices=("sha256", "sha1", "sha384", "sha512"), default="sha256"),
        ),
        factory=bigbluebutton.BigBlueButtonAdapter,
        attendance="webhooks", personal_links=True, host_link=True,
    ),
    Platform(
        "zoom", "Zoom", "dynamic",
        _url(r"^https://([a-z0-9-]+\.)?zoom\.(us|com)/(j|my|w|s)/[\w.-]+([?#]\S*)?$"),
        fields=(
            Field("account_id", "Account ID"),
            Field("client_id", "Client ID"),
            Field("client_secret", "Client secret", secret=True),
            Field("host_user", "Host (user e-mail or id)", kind="email"),
            Field("meeting_type", "Make on the platform", kind="choice", choices=("meeting", "webinar"),
                  default="meeting", help="Zoom Webinars need the Webinar add-on."),
            Field("webhook_secret", "Webhook secret token", secret=True, required=False,
                  help=WEBHOOK_SECRET_HELP),
        ),
        factory=zoom.ZoomAdapter,
        attendance="webhooks", personal_links=True, host_link=True,
    ),
    Platform(
        "google_meet", "Google Meet", "dynamic",
        _url(r"^https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}([?#]\S*)?$"),
        fields=(
            Field("calendar_id", "Calendar", default="primary"),
            Field("service_account_json", "Service account key (JSON)", secret=True,
                  required=False, kind="textarea",
                  help="With domain-wide delegation; or fill in the three OAuth fields."),
            Field("subject", "User to act as (e-mail)", required=False, kind="email"),
            Field("client_id", "OAuth client ID", required=False),
            Field("client_secret", "OAuth client secret", secret=True, required=False),
            Field("refresh_token", "Refresh token", secret=True, required=False),
        ),
        factory=google_meet.GoogleMeetAdapter,
        attendance="clicks",
    ),
    Platform(
        "teams", "Microsoft Teams", "dynamic",
        _url(r"^https://teams\.(microsoft|live)\.com/(l/meetup-join|meet)/\S+$"),
        fields=(
            Field("tenant_id", "Tenant ID"),
            Field("client_id", "Application (client) ID"),
            Field("client_secret", "Client secret", secret=True),
            Field("organizer", "Organizer (user id or e-mail)", kind="email"),
        ),
        factory=teams.TeamsAdapter,
        attendance="report",
    ),
    Platform(
        "webex", "Webex", "dynamic",
        _url(r"^https://[a-z0-9-]+\.webex\.com/(meet|join|[a-z0-9-]+/j\.php|wbxmjs)\S*$"),
        fields=(
            Field("client_id", "Client ID"),
            Field("client_secret", "Client secret", secret=True),
            Field("refresh_token", "Refresh token", secret=True),
            Field("host_email", "Host e-mail", required=False, kind="email"),
            Field("webhook_secret", "Webhook secret", secret=True, required=False,
                  help=WEBHOOK_SECRET_HELP),
        ),
        factory=webex.WebexAdapter,
        attendance="webhooks", personal_links=True, host_link=True,
    ),
    Platform(
        "telemost", "Yandex Telemost", "dynamic",
        _url(r"^https://telemost\.yandex\.(ru|com)/j/\d+([?#]\S*)?$"),
        fields=(
            Field("oauth_token", "OAuth token", secret=True),
            Field("waiting_room", "Waiting room", kind="choice",
                  choices=("PUBLIC", "ORGANIZATION", "ADMINS"), default="PUBLIC"),
            Field("cohosts", "Co-hosts (e-mails, comma-separated)", required=False),
        ),
        factory=telemost.TelemostAdapter,
        attendance="clicks", moves=True,
    ),
    Platform(
        "mts_link", "MTS Link", "dynamic",
        _url(r"^https://([a-z0-9-]+\.)?(mts-link\.ru|webinar\.ru)/\S+$"),
        fields=(
            Field("api_key", "API key (x-auth-token)", secret=True),
        ),
        factory=mts_link.MtsLinkAdapter,
        attendance="webhooks", personal_links=True,
    ),
    Platform(
        "jitsi_jwt", "Jitsi with tokens (own server)", "dynamic", HTTPS_ANY,
        fields=(
            Field("base_url", "Server address", kind="url", help="https://meet.example.org"),
            Field("app_id", "Application id (Prosody app_id)"),
            Field("app_secret", "Application secret (Prosody app_secret)", secret=True),
            Field("audience", "Audience", default="jitsi"),
            Field("algorithm", "Signature", kind="choice", choices=("HS256", "HS512"),
                  default="HS256"),
        ),
        factory=jitsi_tokens.JitsiTokenAdapter,
        attendance="clicks", personal_links=True, host_link=True,
    ),
    Platform(
        "jaas", "8x8 JaaS", "dynamic", _url(r"^https://8x8\.vc/\S+$"),
        fields=(
            Field("app_id", "AppID (vpaas-magic-cookie-…)"),
            Field("key_id", "API key id"),
            Field("private_key", "Private key (PEM)", secret=True, kind="textarea"),
            Field("webhook_secret", "Webhook secret", secret=True, required=False,
                  help=WEBHOOK_SECRET_HELP),
        ),
        factory=jitsi_tokens.JaasAdapter,
        attendance="webhooks", personal_links=True, host_link=True,
    ),
    Platform(
        "vk", "VK Calls / Sferum", "paste",
        _url(r"^https://((m\.)?vk\.(com|ru)/call/join/|calls\.vk\.com/|(web\.)?sferum\.ru/)\S*$"),
    ),
    Platform("other", "other", "paste", HTTPS_ANY),
    Platform("none", "No meeting link", "none", None),
)}

#: The choice for an event with no meeting link (the default for all-day events).
NO_MEETING = "none"

#: Platforms an organizer can choose for a webinar.
WEBINAR_PLATFORMS: tuple[str, ...] = tuple(
    name for name, p in PLATFORMS.items() if p.factory is not None or p.link_kind == "none")
#: Platforms whose links may be pasted ("static" webinars), each with its pattern.
PASTE_PLATFORMS: tuple[str, ...] = tuple(
    name for name, p in PLATFORMS.items() if p.url_pattern is not None)
#: Platforms an organization connects with credentials.
CONNECTABLE: tuple[str, ...] = tuple(name for name, p in PLATFORMS.items() if p.fields)


def check_pasted_url(url: str, platform: str = "other") -> str | None:
    """Why `url` is not an acceptable pasted link for `platform`, or None when it is."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// link"
    if len(url) > 500:
        return "is longer than 500 characters"
    entry = PLATFORMS.get(platform)
    pattern = entry.url_pattern if entry is not None else None
    if pattern is None or not pattern.match(url):
        return f"is not a {platform} meeting address"
    return None


def guess_pasted_platform(url: str | None) -> str:
    """The platform a pasted link belongs to, for showing it back; "other" if none."""
    for name in PASTE_PLATFORMS:
        pattern = PLATFORMS[name].url_pattern
        if pattern is not None and pattern is not HTTPS_ANY and pattern.match(url or ""):
            return name
    return "other"


def make_adapter(name: str, *, session: aiohttp.ClientSession, tokens: TokenCache,
                 credentials: Mapping[str, str], endpoints: Mapping[str, str],
                 hook_url: str | None, secret: str,
                 now: Callable[[], datetime]) -> Adapter:
    """The adapter of `name`, on the process's shared session and token cache: the one way
    the core makes one."""
    factory = PLATFORMS[name].factory
    if factory is None:
        raise KeyError(f"{name} has no adapter")
    return factory(AdapterContext(
        http=PlatformHttp(session, name, tokens=tokens, now=now), credentials=credentials,
        endpoints=endpoints, hook_url=hook_url, secret=secret, now=now))
