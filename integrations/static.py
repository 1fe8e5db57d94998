"""A link pasted by the organizer, checked against the pattern of the platform it claims."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .base import MeetingLink, MeetingSpec, PlatformRejected

# Hosts a pasted link may point at, by platform. "other" accepts any https URL.
STATIC_PATTERNS: dict[str, re.Pattern[str]] = {
    "zoom": re.compile(r"^([a-z0-9-]+\.)?zoom\.(us|com)$"),
    "teams": re.compile(r"^teams\.(microsoft|live)\.com$"),
    "google_meet": re.compile(r"^meet\.google\.com$"),
    "webex": re.compile(r"^[a-z0-9-]+\.webex\.com$"),
    "telemost": re.compile(r"^telemost\.yandex\.(ru|com)$"),
    "mts_link": re.compile(r"^([a-z0-9-]+\.)?(mts-link\.ru|webinar\.ru)$"),
    "vk": re.compile(r"^(vk\.com|vk\.ru|sferum\.ru|web\.sferum\.ru|calls\.vk\.com)$"),
    "jitsi": re.compile(r"^.+$"),
    "bigbluebutton": re.compile(r"^.+$"),
    "other": re.compile(r"^.+$"),
}


def check_static_url(url: str, platform: str = "other") -> str | None:
    """Return why `url` is not an acceptable link for `platform`, or None when it is."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// link"
    if len(url) > 500:
        return "is longer than 500 characters"
    pattern = STATIC_PATTERNS.get(platform, STATIC_PATTERNS["other"])
    if not pattern.match(parts.hostname.lower()):
        return f"is not a {platform} meeting address"
    return None


class StaticLinkAdapter:
    name = "static"
    link_kind = "static"

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        if not spec.static_url or check_static_url(spec.static_url) is not None:
            raise PlatformRejected("static link missing or invalid")
        return MeetingLink(external_id=spec.static_url, join_url=spec.static_url)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        return await self.create(spec)

    async def delete(self, link: MeetingLink) -> None:
        return None
