"""Background jobs: the same functions run under arq and in the in-process runner."""

from __future__ import annotations

from webinars.queue import (
    DISPATCH,
    RECONCILE,
    SEND_DELIVERIES,
    SEND_WEBHOOK,
    SYNC_MEETING,
    JobFunction,
)

from .deliveries import send_deliveries
from .dispatch import dispatch
from .meetings import sync_meeting
from .reconcile import reconcile
from .webhooks import send_webhook

FUNCTIONS: dict[str, JobFunction] = {
    DISPATCH: dispatch,
    SYNC_MEETING: sync_meeting,
    SEND_DELIVERIES: send_deliveries,
    SEND_WEBHOOK: send_webhook,
    RECONCILE: reconcile,
}

#: Periodic jobs as (name, every seconds); arq's cron runs reconcile every minute too.
PERIODIC: list[tuple[str, float]] = [(RECONCILE, 60.0)]
