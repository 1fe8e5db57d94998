"""Organizer pages for outgoing mail: the local outbox and a webinar's deliveries."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .. import outbox
from ..requests import commit, runtime
from ..scheduling import get_managed_webinar
from .common import clock, db, page_number, read_form, redirect, render, require_account
from .routing import route


async def outbox_list(request: Request) -> Response:
    page = page_number(request)
    async with db(request) as session:
        account = await require_account(request, session)
        rows, more = await outbox.list_messages(session, account, page=page)
    return render(request, "pages/outbox.html", {
        "rows": rows, "page": page, "more": more, "zone": runtime(request).config.default_timezone,
        "smtp": bool(runtime(request).config.smtp_url)})


async def outbox_message(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        message, webinar = await outbox.get_message(session, account,
                                                    request.path_params["id"])
    return render(request, "pages/outbox_message.html", {
        "message": message, "webinar": webinar, "parsed": outbox.parse(message.raw),
        "zone": runtime(request).config.default_timezone})


async def outbox_raw(request: Request) -> Response:
    """The message as received, to open in a mail client (which adds the invitation)."""
    async with db(request) as session:
        account = await require_account(request, session)
        message, _ = await outbox.get_message(session, account, request.path_params["id"])
    return Response(message.raw, media_type="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="message-{message.id}.eml"',
        "Cache-Control": "no-store"})


async def deliveries_page(request: Request) -> Response:
    page = page_number(request)
    async with db(request) as session:
        account = await require_account(request, session)
        webinar = await get_managed_webinar(session, account, request.path_params["id"])
        counts, registrants, more = await outbox.overview(session, webinar.id, page=page)
    return render(request, "pages/deliveries.html", {
        "w": webinar, "counts": counts, "registrants": registrants, "page": page,
        "more": more, "resent": request.query_params.get("resent")})


async def resend(request: Request) -> Response:
    async with db(request) as session:
        account = await require_account(request, session)
        await get_managed_webinar(session, account, request.path_params["id"])
        await read_form(request)
        webinar = await outbox.resend_invitation(
            session, clock(request), account, request.path_params["id"],
            request.path_params["registration_id"])
        await commit(request, session)
    registration_id = request.path_params["registration_id"]
    return redirect(f"/webinars/{webinar.id}/deliveries?resent={registration_id}"
                    f"#registration-{registration_id}")


routes = [
    route("/outbox", GET=outbox_list),
    route("/outbox/{id:id}", GET=outbox_message),
    route("/outbox/{id:id}.eml", GET=outbox_raw),
    route("/webinars/{id:id}/deliveries", GET=deliveries_page),
    route("/webinars/{id:id}/deliveries/{registration_id:id}/resend", POST=resend),
]
