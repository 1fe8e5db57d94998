"""Outbound webhooks (Standard Webhooks): one message per (event, endpoint), sent and retried
by the worker. Placeholder until the sender lands: queues nothing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .context import WorkerContext
from .handling import EventView, Step


async def queue_messages(session: AsyncSession, ctx: WorkerContext, event: EventView,
                         cursor: int) -> Step:
    return Step()
