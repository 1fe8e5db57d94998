"""/api/v1/webinars/{id}/activity: the webinar's activity log as JSON, the same entries the
organizer's page shows (`webinars.activity`), paged by `before` like the page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import activity
from ..activity import Entry
from ..errors import ValidationFailed
from ..web.routing import MAX_ID, route
from .activity_docs import DEFAULT_LIMIT, MAX_LIMIT
from .auth import authorized
from .inputs import query_int
from .serializers import utc


def entry_json(entry: Entry) -> dict[str, Any]:
    told, hooks = entry.told, entry.hooks
    return {
        "id": entry.id, "kind": entry.kind.value, "occurred_at": utc(entry.occurred_at),
        "organization_id": entry.organization_id, "webinar_id": entry.webinar_id,
        "actor": entry.actor, "registrant": entry.registrant, "data": entry.data,
        "members_told": {"members": told.members, "messages": told.messages,
                         "sent": told.sent, "failed": told.failed,
                         "superseded": told.superseded},
        "webhooks": {"messages": hooks.messages, "sent": hooks.sent, "failed": hooks.failed},
        "meeting_jobs": entry.meeting_jobs, "dispatched": entry.dispatched,
        "dispatch_attempts": entry.dispatch_attempts, "last_error": entry.last_error,
    }


async def webinar_activity(request: Request) -> Response:
    async with authorized(request) as (session, account):
        params = request.query_params
        fields = {name: "is not a known parameter" for name in params
                  if name not in ("before", "limit")}
        limit = query_int(params.get("limit"), "limit", fields, default=DEFAULT_LIMIT,
                          minimum=1, maximum=MAX_LIMIT)
        raw = params.get("before")
        before = None if raw is None else query_int(raw, "before", fields, default=0,
                                                     minimum=1, maximum=MAX_ID)
        if fields:
            raise ValidationFailed(fields)
        _, page = await activity.webinar_activity(
            session, account, request.path_params["webinar_id"], before=before, limit=limit)
        return JSONResponse({"items": [entry_json(e) for e in page.entries],
                             "next_before": page.next_before})


routes: list[Route] = [
    route("/webinars/{webinar_id:id}/activity", GET=webinar_activity),
]
