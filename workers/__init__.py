"""Background jobs: the same functions run under arq and in the in-process runner."""

from __future__ import annotations

from webinars.queue import CREATE_MEETING, RECONCILE, SEND_DELIVERIES, JobFunction

from .deliveries import send_deliveries
from .meetings import create_meeting
from .reconcile import reconcile

FUNCTIONS: dict[str, JobFunction] = {
    CREATE_MEETING: create_meeting,
    SEND_DELIVERIES: send_deliveries,
    RECONCILE: reconcile,
}

#: Periodic jobs as (name, every seconds); arq's cron runs reconcile every minute too.
PERIODIC: list[tuple[str, float]] = [(RECONCILE, 60.0)]
