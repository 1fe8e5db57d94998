"""Jitsi Meet: no API; a room exists once someone opens its URL.

The room name is derived from the event's idempotency key with a keyed hash, so it is
unguessable, and creating the meeting twice yields the same room.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .base import MeetingLink, MeetingSpec

ROOM_PREFIX = "Webinar"


class JitsiAdapter:
    name = "jitsi"
    link_kind = "dynamic"

    def __init__(self, base_url: str, room_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = room_secret.encode()

    def room_name(self, key: str) -> str:
        digest = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{ROOM_PREFIX}{digest}"

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        room = self.room_name(spec.idempotency_key or spec.title)
        url = f"{self.base_url}/{room}"
        return MeetingLink(external_id=room, join_url=url, host_url=url)

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        return link  # the room does not depend on time or title

    async def delete(self, link: MeetingLink) -> None:
        return None  # rooms vanish when empty


ROOM_RE = re.compile(rf"^{ROOM_PREFIX}[0-9a-f]{{32}}$")
