"""A link pasted by the organizer. Its pattern was checked at the edge against the platform
it claims (`registry.check_pasted_url`); here it only travels."""

from __future__ import annotations

from .base import (
    HookReply,
    HookRequest,
    MeetingLink,
    MeetingSpec,
    NotSupported,
    Person,
    PersonalLink,
    PlatformEvent,
    PlatformRejected,
)
from .http import AdapterContext


class StaticLinkAdapter:
    name = "static"
    link_kind = "static"

    def __init__(self, ctx: AdapterContext | None = None) -> None:
        pass

    async def create(self, spec: MeetingSpec) -> MeetingLink:
        if not spec.static_url or not spec.static_url.startswith("https://"):
            raise PlatformRejected("the pasted link is missing or is not an https:// address")
        return MeetingLink(external_id=spec.static_url, join_url=spec.static_url)

    async def get(self, link: MeetingLink) -> MeetingLink:
        return link

    async def update(self, link: MeetingLink, spec: MeetingSpec) -> MeetingLink:
        return await self.create(spec)

    async def delete(self, link: MeetingLink) -> None:
        return None

    async def check(self) -> None:
        return None

    async def host_link(self, link: MeetingLink, host: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def join_link(self, link: MeetingLink, person: Person) -> PersonalLink:
        return PersonalLink(link.join_url)

    async def handle_hook(self, request: HookRequest) -> HookReply:
        raise NotSupported("a pasted link sends no callbacks")

    async def attendance(self, link: MeetingLink) -> list[PlatformEvent]:
        raise NotSupported("a pasted link has no attendance report")
