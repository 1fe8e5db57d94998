"""Background jobs: the same functions run under arq and in the in-process runner."""

from __future__ import annotations

from webinars.queue import (
    CHECK_CONNECTIONS,
    DISPATCH,
    POLL_ATTENDANCE,
    RECONCILE,
    REMIND_PLAN,
    SEND_DELIVERIES,
    SEND_WEBHOOK,
    SYNC_MEETING,
    TELL_COPIES_CHANGED,
    TELL_MEETING_FAILED,
    JobFunction,
)

from .alerts import check_connections, tell_meeting_failed
from .copies import remind_plan, tell_copies_changed
from .deliveries import send_deliveries
from .dispatch import dispatch
from .meetings import sync_meeting
from .reconcile import reconcile
from .reports import poll_attendance
from .webhooks import send_webhook

FUNCTIONS: dict[str, JobFunction] = {
    DISPATCH: dispatch,
    SYNC_MEETING: sync_meeting,
    SEND_DELIVERIES: send_deliveries,
    SEND_WEBHOOK: send_webhook,
    RECONCILE: reconcile,
    CHECK_CONNECTIONS: check_connections,
    POLL_ATTENDANCE: poll_attendance,
    TELL_MEETING_FAILED: tell_meeting_failed,
    TELL_COPIES_CHANGED: tell_copies_changed,
    REMIND_PLAN: remind_plan,
}

#: Periodic jobs as (name, every seconds); arq's cron (workers/settings.py) runs the same.
PERIODIC: list[tuple[str, float]] = [(RECONCILE, 60.0), (POLL_ATTENDANCE, 3600.0),
                                     (CHECK_CONNECTIONS, 86400.0)]
