"""Outbound webhooks (Standard Webhooks): one message per (event, endpoint), sent and retried
by the worker. Placeholder until the sender lands: queues nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from .context import WorkerContext

if TYPE_CHECKING:
    from .dispatch import EventView, Step


async def queue_messages(session: AsyncSession, ctx: WorkerContext, event: EventView,
                         cursor: int) -> Step:
    from .dispatch import Step

    return Step()
