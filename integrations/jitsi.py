"""Public Jitsi Meet (meet.jit.si or any open server): no API; a room exists once someone opens
its URL.

The room name is derived from the event's idempotency key with a keyed hash, so it is
unguessable, and creating the meeting twice yields the same room. Host and members share the
link; attendance comes only from our /j/ clicks.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .base import (
    HookReply,
    HookRequest,
    MeetingLink,
    MeetingSpec,
    NotSupported,
    Person,
    PersonalLink,
    PlatformEvent,
)
from .http import AdapterContext

ROOM_PREFIX = "Webinar"
ROOM_RE = re.compile(rf"^{ROOM_PREFIX}[0-9a-f]{{32}}$")


def room_name(secret: str, key: str) -> str:
    digest = hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{ROOM_PREFIX}{digest}"


class JitsiAdapter:
    name = "jitsi"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.base_url = ctx.endpoint("base", "https://meet.jit.si")
        self._secret = ctx.secret

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        room = room_name(self._secret, spec.idempotency_key or spec.title)
        url = f"{self.base_url}/{room}"
        return MeetingLink(external_id=room, join_url=url, host_url=url)

    async def get(self, link: MeetingLink) -> MeetingLink:
        return link  # a room is only a name

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        return link  # the room does not depend on time or title

    async def delete(self, link: MeetingLink) -> None:
        return None  # rooms vanish when empty

    async def check(self) -> None:
        return None

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        return PersonalLink(link.host_url or link.join_url)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported("public Jitsi Meet sends no callbacks")

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported("public Jitsi Meet has no attendance report")
