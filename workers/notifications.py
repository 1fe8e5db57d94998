"""Scaffold only (the webhooks branch): main's notifications handler replaces this on merge."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .context import WorkerContext
from .handling import EventView, Step


async def _nothing(session: AsyncSession, ctx: WorkerContext, event: EventView,
                   cursor: int) -> Step:
    return Step()


webinar_changed = webinar_cancelled = registration_confirmed = _nothing
registration_cancelled = meeting_ready = _nothing
