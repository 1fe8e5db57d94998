"""The pages members see without an account: calendars, a webinar, registering, their own page.

Nothing here shows a meeting's raw join or host link: members get `/j/<token>`, which records
the click and redirects, so the platform link can change without re-sending anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .. import (
    branding,
    calendars,
    feeds,
    joining,
    listings,
    organizations,
    plan,
    registrations,
    sharing,
)
from ..catalogs import N_
from ..errors import Conflict, NotFound, ValidationFailed
from ..i18n import gettext
from ..limits import RateLimited
from ..models import JoinClick, Organization, Registration, Webinar
from ..page_cache import Key, Page
from ..periods import parse_period
from ..registrations import RegistrationLimits
from ..requests import base_url, commit, runtime
from ..validation import registration_input
from .adoption import can_adopt
from .common import (
    browser_zone,
    client_address,
    clock,
    db,
    form_dict,
    locale,
    page_number,
    private_headers,
    read_body,
    read_form,
    reader_zone,
    redirect,
    render,
    signed_in,
)
from .routing import route

REGISTRATION_FIELDS = ("name", "email", "locale", "timezone", "organization_id")
#: Why registration is not offered, as the page says it (English key of the RU catalog).
#: The one thing the event page asks a visitor to do, by what registering would give them.
CALLS_TO_ACTION = {
    "open": N_("Register"),
    "waitlist": N_("Join the waitlist"),
    "approval": N_("Request a seat"),
}
STATE_MESSAGES = {
    "cancelled": "This webinar is cancelled.",
    "past": "This webinar has already taken place.",
    "started": "The webinar has already started; registration is closed.",
    "closed": "Registration is closed.",
    "full": "All seats are taken.",
    "planned": "Registration opens once the date is fixed.",
}


def registration_state(webinar: Webinar, now: datetime) -> str | None:
    """None when the form is offered, otherwise the key of STATE_MESSAGES that explains why."""
    if webinar.status == "cancelled":
        return "cancelled"
    if webinar.status == "planned":
        return "planned"
    if webinar.status == "finished" or calendars.end_at(webinar) <= now:
        return "past"
    if registrations.closes_at(webinar) <= now:
        return "started"
    if (webinar.status != "scheduled" or not webinar.registration_open
            or webinar.registration_mode == "closed"):
        return "closed"
    return None  # full: the form still takes names, for the waitlist


async def calendar_index(request: Request) -> Response:
    async with db(request) as session:
        orgs = await organizations.all_organizations(session)
        counts = plan.subtree_counts(orgs, await plan.upcoming_counts(session,
                                                                      clock(request).now()))
    children: dict[int | None, list[Organization]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org)

    def tree(parent_id: int | None) -> list[dict[str, Any]]:
        return [{"org": org, "children": tree(org.id), "upcoming": counts.get(org.id, 0)}
                for org in sorted(children.get(parent_id, []), key=lambda o: o.name)]

    known = {org.id for org in orgs}
    roots = tree(None) + [{"org": org, "children": tree(org.id),
                           "upcoming": counts.get(org.id, 0)} for org in orgs
                          if org.parent_id is not None and org.parent_id not in known]
    return render(request, "pages/calendar.html", {"tree": roots})


async def org_calendar(request: Request) -> Response:
    """An organization's coming events (with those of the levels above), a page at a time;
    what is over is in its archive."""
    return await org_events(request, archive=False)


async def org_archive(request: Request) -> Response:
    return await org_events(request, archive=True)


async def org_events(request: Request, *, archive: bool) -> Response:
    """Kept like an event page: a regional announcement sends its crowd here too."""
    slug = request.path_params["slug"]
    number = page_number(request)
    key = org_page_key(slug, archive, number, locale(request), browser_zone(request))
    return await kept_or_rendered(request, key,
                                  lambda: render_org_events(request, slug, number, archive))


async def render_org_events(request: Request, slug: str, number: int, archive: bool
                            ) -> Response:
    now = clock(request).now()
    async with db(request) as session:
        org = await organizations.get_by_slug(session, slug)
        orgs = await organizations.all_organizations(session)
        chain = organizations.chain(orgs, org.id)
        ids = [o.id for o in chain]
        page = await (listings.past(session, ids, now, number) if archive
                      else listings.upcoming(session, ids, now, number))
        brand = branding.inherit(orgs, await branding.own_brands(session), org.id)
    feed = f"{base_url(request)}/o/{org.slug}.ics"
    return render(request, "pages/org_archive.html" if archive else "pages/org_calendar.html", {
        "org": org,
        "brand": brand,
        "reader_zone": reader_zone(request, org.timezone),
        "ancestors": chain[1:],
        "events": page.rows,
        "page": page.number,
        "more": page.more,
        "feed_url": feed,
        "webcal_url": calendars.webcal_url(feed),
        "google_subscribe_url": (calendars.google_subscribe_url(feed)
                                 if feed.startswith("https://") else None),
    })


def webinar_context(request: Request, webinar: Webinar, **extra: Any) -> dict[str, Any]:
    now = clock(request).now()
    state = extra.pop("state", registration_state(webinar, now))
    links = feeds.public_links(base_url(request), webinar)
    period = parse_period(webinar.plan_period) if webinar.plan_period else None
    seats_left = (max(webinar.capacity - webinar.registered_count, 0)
                  if webinar.capacity is not None else None)
    offer = ("waitlist" if seats_left == 0 else
             "approval" if webinar.registration_mode == "approval" else "open")
    share_url = f"{base_url(request)}/w/{webinar.public_id}"
    return {
        "webinar": webinar,
        "state": state,
        "state_message": STATE_MESSAGES.get(state) if state else None,
        "seats_left": seats_left,
        "waitlist": seats_left == 0,
        "approval": webinar.registration_mode == "approval",
        "values": {"locale": locale(request), "timezone": webinar.timezone},
        "reader_zone": reader_zone(request, webinar.organization.timezone),
        "errors": {},
        "ics_url": f"/w/{webinar.public_id}.ics",
        "google_url": calendars.google_calendar_url(webinar, links),
        "outlook_url": calendars.outlook_calendar_url(webinar, links, personal=True),
        "planned_note": (period.planned_note(locale(request))
                         if webinar.status == "planned" and period else None),
        "cta": None if state else CALLS_TO_ACTION[offer],
        "recording_url": webinar.recording_url if state == "past" else None,
        "share_url": share_url,
        "qr_url": f"/w/{webinar.public_id}/qr.svg",
        "qr_size": sharing.QR_SIZE,
        **extra,
    }


async def member_organizations(session: AsyncSession, webinar: Webinar) -> list[tuple[int, str]]:
    """Where a registrant may say they belong: the webinar's organization and everything below.

    Their personal feed then holds the plans of that organization's whole chain.
    """
    orgs = await organizations.all_organizations(session)
    inside = organizations.subtree_ids(orgs, [webinar.organization_id])
    by_parent: dict[int | None, list[Organization]] = {}
    for org in orgs:
        if org.id in inside:
            by_parent.setdefault(org.parent_id if org.id != webinar.organization_id else None,
                                 []).append(org)
    result: list[tuple[int, str]] = []

    def walk(parent_id: int | None, level: int) -> None:
        for org in sorted(by_parent.get(parent_id, []), key=lambda o: o.name):
            result.append((org.id, "\u2003" * level + org.name))
            walk(org.id, level + 1)

    walk(None, 0)
    return result


def event_page_key(public_id: str, lang: str, zone: str | None) -> Key:
    """What an event page shows depends on (`forget` drops every key of the event)."""
    return (public_id, lang, zone or "")


def org_page_key(slug: str, archive: bool, number: int, lang: str, zone: str | None) -> Key:
    return (f"o:{slug}", "archive" if archive else "coming", str(number), lang, zone or "")


async def webinar_page(request: Request) -> Response:
    public_id = request.path_params["public_id"]
    key = event_page_key(public_id, locale(request), browser_zone(request))
    return await kept_or_rendered(request, key,
                                  lambda: render_webinar_page(request, public_id))


async def kept_or_rendered(request: Request, key: Key,
                           render_page: Callable[[], Awaitable[Response]]) -> Response:
    """A public page from the page cache (`PAGE_CACHE_SECONDS`), rendered once per key and
    time; signed-in visitors always get theirs rendered, with their name and menu in it."""
    rt = runtime(request)
    if signed_in(request) or rt.config.page_cache_seconds <= 0:
        return await render_page()

    async def render_body() -> bytes:
        return bytes((await render_page()).body)

    return kept_page(request, await rt.pages.serve(key, rt.clock.now(),
                                                     rt.config.page_cache_seconds, render_body))


def kept_page(request: Request, page: Page) -> Response:
    """A kept page, compressed once for every browser that takes gzip (the middleware leaves
    a response that has its Content-Encoding alone)."""
    body, headers = page.answer("gzip" in request.headers.get("accept-encoding", ""))
    return HTMLResponse(body, headers=headers)


async def render_webinar_page(request: Request, public_id: str) -> Response:
    async with db(request) as session:
        webinar = await feeds.get_public_webinar(session, public_id)
        orgs = await member_organizations(session, webinar)
        adopt = signed_in(request) and await can_adopt(request, session, webinar)
        brand = await branding.brand_of(session, webinar.organization_id)
    return render(request, "pages/webinar.html",
                  webinar_context(request, webinar, member_orgs=orgs, adopt=adopt, brand=brand))


async def register(request: Request) -> Response:
    form = await read_form(request, public=True)
    data = form_dict(form, *REGISTRATION_FIELDS)  # anything else in the form is ignored
    lang = locale(request)
    public_id = request.path_params["public_id"]
    async with db(request) as session:
        webinar = await feeds.get_public_webinar(session, public_id)
        orgs = await member_organizations(session, webinar)
        brand = await branding.brand_of(session, webinar.organization_id)
        values = {"locale": lang, "timezone": webinar.timezone, **data}
        try:
            checked = registration_input(data, default_locale=lang,
                                         default_timezone=webinar.timezone)
            if checked.organization_id not in (None, *(org_id for org_id, _ in orgs)):
                raise ValidationFailed({"organization_id": "is not one of the listed "
                                                           "organizations"})
            await registrations.admit(session, clock(request),
                                      RegistrationLimits.of(runtime(request).config),
                                      address=checked.email, client=client_address(request))
            try:
                await registrations.register(session, clock(request), webinar, checked)
            except registrations.AlreadyRegistered as known:
                # Answered as a new registration is: only the mailbox learns it was known.
                await registrations.resend_link(session, clock(request), known.registration,
                                                period=RegistrationLimits.of(
                                                    runtime(request).config).period)
            await commit(request, session)
        except ValidationFailed as exc:
            return render(request, "pages/webinar.html", webinar_context(
                request, webinar, values=values, errors=exc.fields, member_orgs=orgs,
                brand=brand),
                status_code=422)
        except RateLimited as exc:
            response = render(request, "pages/webinar.html", webinar_context(
                request, webinar, values=values, member_orgs=orgs, brand=brand,
                conflict="Too many registrations from here or for this address. "
                         "Try again later."), status_code=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except IntegrityError:
            # A concurrent request registered the same e-mail first; the unique constraint
            # stopped this one and the rollback returns the seat it took. The answer is the
            # one every registration gets.
            await session.rollback()
        except Conflict as exc:
            await session.rollback()
            webinar = await feeds.get_public_webinar(session, public_id)  # fresh state for the page
            return conflict_page(request, webinar, exc.code, values, orgs, brand)
    request.session.setdefault("locale", lang)  # this browser keeps the language it used
    runtime(request).pages.forget(public_id)  # the seats it shows have changed
    return sent_page(request, public_id)


async def webinar_qr(request: Request) -> Response:
    """The event page's address as a QR code, for a slide or a printed poster."""
    async with db(request) as session:
        webinar = await feeds.get_public_webinar(session, request.path_params["public_id"])
    return Response(sharing.qr_svg(f"{base_url(request)}/w/{webinar.public_id}"),
                    media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


def sent_page(request: Request, public_id: str) -> Response:
    """The one answer to every accepted registration, new or of a known address: the
    personal link went to the address. Nothing on it depends on what the database held."""
    return private_headers(render(request, "pages/sent.html", {"public_id": public_id}))


def conflict_page(request: Request, webinar: Webinar, code: str,
                  values: dict[str, Any], orgs: list[tuple[int, str]],
                  brand: branding.Brand | None = None) -> Response:
    now = clock(request).now()
    state = code if code == "full" else (registration_state(webinar, now) or "closed")
    message = STATE_MESSAGES.get(state, STATE_MESSAGES["closed"])
    return render(request, "pages/webinar.html", webinar_context(
        request, webinar, state=state, values=values, conflict=message, member_orgs=orgs,
        brand=brand),
        status_code=409)


async def personal_context(request: Request, session: AsyncSession,
                           registration: Registration) -> dict[str, Any]:
    webinar = registration.webinar
    now = clock(request).now()
    base = base_url(request)
    links = feeds.registrant_links(base, registration)
    confirmed = registration.status == "confirmed"
    waiting = registration.status in ("pending", "waitlisted")
    ended = calendars.end_at(webinar) <= now or webinar.status == "finished"
    start, _end = joining.start_in_view(webinar, now)
    join_opens_at = start - timedelta(minutes=runtime(request).config.join_opens_minutes)
    return {
        "registration": registration,
        "webinar": webinar,
        "confirmed": confirmed,
        "status": registration.status,
        "place": await registrations.place_in_line(session, registration),
        "webinar_cancelled": webinar.status == "cancelled",
        "ended": ended,
        "can_cancel": (confirmed or waiting) and webinar.status != "cancelled" and not ended,
        "join_address": feeds.join_address(base, registration.join_token),
        "join_open": join_opens_at <= now,
        "join_opens_at": join_opens_at,
        "join_opens_minutes": runtime(request).config.join_opens_minutes,
        "recording_url": webinar.recording_url if ended else None,
        "ics_url": f"/r/{registration.token}.ics",
        "google_url": calendars.google_calendar_url(webinar, links),
        "outlook_url": calendars.outlook_calendar_url(webinar, links, personal=True),
        "office_url": calendars.outlook_calendar_url(webinar, links),
        "feeds": await feeds.feeds_of_registration(session, registration),
        "address_confirmed": registration.address_confirmed_at is not None,
        "new_feed": None,
        "brand": await branding.brand_of(session, webinar.organization_id),
    }


async def personal_page(request: Request) -> Response:
    async with db(request) as session:
        registration = await registrations.by_token(session, request.path_params["token"])
        if "lang" not in request.query_params and "locale" not in request.session:
            request.session["locale"] = registration.locale  # the language they chose
        context = await personal_context(request, session, registration)
    return private_headers(render(request, "pages/registered.html", context))


async def confirm_address(request: Request) -> Response:
    """A personal link from one of the registration's e-mails: it proves the address."""
    token = request.path_params["token"]
    async with db(request) as session:
        registration = await registrations.by_token(session, token)
        if await registrations.confirm_address(session, clock(request), registration,
                                               request.path_params["proof"],
                                               runtime(request).config.secret_key):
            await commit(request, session)
    return private_headers(redirect(f"/r/{token}"))


async def reminders_off_page(request: Request) -> Response:
    """Where List-Unsubscribe leads a person (mail scanners GET it too: nothing changes)."""
    async with db(request) as session:
        registration = await registrations.by_token(session, request.path_params["token"])
    return private_headers(render(request, "pages/reminders.html", {
        "registration": registration, "webinar": registration.webinar, "done": False}))


async def reminders_off(request: Request) -> Response:
    """RFC 8058 one-click unsubscribe (a POST from the mail provider, no cookies) or the button
    on the page: the token in the address is the authority, as for the personal page."""
    await read_body(request)  # "List-Unsubscribe=One-Click", or the page's button: all the same
    async with db(request) as session:
        registration = await registrations.by_token(session, request.path_params["token"])
        await registrations.set_reminders(session, registration, on=False)
        await commit(request, session)
    return private_headers(render(request, "pages/reminders.html", {
        "registration": registration, "webinar": registration.webinar, "done": True}))


async def reminders_on(request: Request) -> Response:
    await read_form(request)
    token = request.path_params["token"]
    async with db(request) as session:
        registration = await registrations.by_token(session, token)
        await registrations.set_reminders(session, registration, on=True)
        await commit(request, session)
    return redirect(f"/r/{token}#reminders")


async def cancel_registration(request: Request) -> Response:
    await read_form(request)
    token = request.path_params["token"]
    async with db(request) as session:
        registration = await session.scalar(
            select(Registration).where(Registration.token == token)
            .with_for_update(of=Registration))  # two clicks must not release two seats
        if registration is None:
            raise NotFound("no such registration")
        context = await personal_context(request, session, registration)
        if registration.status in ("confirmed", "pending", "waitlisted") and \
                not context["can_cancel"]:
            lang = locale(request)
            context["notice"] = gettext(lang, "This registration can no longer be cancelled.")
            return private_headers(render(request, "pages/registered.html", context,
                                          status_code=409))
        await registrations.cancel(session, clock(request), registration)
        await commit(request, session)
        runtime(request).pages.forget(registration.webinar.public_id)  # a seat came free
    return redirect(f"/r/{token}")


async def join(request: Request) -> Response:
    """Follow the personal join address: count the click and go to the meeting when it is ready.

    A click is recorded only when it leads into the meeting of a confirmed registration, so
    the clicks are attendance, not curiosity about a link that is still pending.
    """
    async with db(request) as session:
        registration = await registrations.by_join_token(session, request.path_params["token"])
        webinar = registration.webinar
        meeting = webinar.meeting
        ready = meeting is not None and meeting.status == "ready" and bool(meeting.join_url)
        confirmed = registration.status == "confirmed"
        if confirmed and ready and webinar.status != "cancelled":
            assert meeting is not None and meeting.join_url
            target = await joining.member_target(session, runtime(request), registration,
                                                 meeting)
            session.add(JoinClick(registration_id=registration.id, at=clock(request).now()))
            await commit(request, session)
            return private_headers(RedirectResponse(target, status_code=303))
        context = {
            "registration": registration,
            "webinar": webinar,
            "confirmed": confirmed,
            "webinar_cancelled": webinar.status == "cancelled",
        }
    return private_headers(render(request, "pages/join_wait.html", context))


routes = [
    route("/calendar", GET=calendar_index),
    route("/o/{slug:key}", GET=org_calendar),
    route("/o/{slug:key}/archive", GET=org_archive),
    route("/w/{public_id:key}", GET=webinar_page),
    route("/w/{public_id:key}/register", POST=register),
    route("/w/{public_id:key}/qr.svg", GET=webinar_qr),
    route("/r/{token:key}", GET=personal_page),
    route("/r/{token:key}/cancel", POST=cancel_registration),
    route("/r/{token:key}/confirm/{proof:key}", GET=confirm_address),
    route("/r/{token:key}/reminders/off", GET=reminders_off_page, POST=reminders_off),
    route("/r/{token:key}/reminders/on", POST=reminders_on),
    route("/j/{token:key}", GET=join),
]
