"""Calendar downloads and feeds over HTTP: .ics bytes, ETag and 304, and the personal feed forms.

Feeds are polled by calendar apps for as long as people stay subscribed. A feed's version comes
from its plan, not its content: one prebuilt query reads the chain of organizations with their
`plan_version` (raised by every change a calendar shows, `webinars.derived`) and the sliding
window's first start, so a 304 or a kept body costs no event loaded; a feed built afresh streams
as it is written and is kept under that version. A single event's download is hashed from its
content (`calendars.content_version`), which for one event is as cheap.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from .. import feeds, registrations
from ..calendars import (
    FeedItem,
    content_version,
    item_components,
    publish_chunks,
    publish_items,
    webcal_url,
)
from ..errors import NotFound
from ..i18n import gettext
from ..models import MemberFeed
from ..requests import base_url, commit, runtime
from .common import (
    clock,
    csrf_token,
    db,
    locale,
    one_read,
    private_headers,
    read_form,
    redirect,
    render,
    signed_in,
    templates,
)
from .public import personal_context
from .routing import route

ICS_TYPE = "text/calendar; charset=utf-8"
#: Organization plans are public and change rarely; shared caches may keep them briefly.
PUBLIC_CACHE = "public, max-age=900"
#: Personal calendars carry a secret: no shared caches, and revalidate every time (a revoked
#: feed must stop at once; an unchanged one costs only a 304).
PRIVATE_CACHE = "private, no-cache"
#: Building in a thread keeps the event loop serving other requests while a big feed is built.
THREAD_THRESHOLD = 200
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IcsCache:
    """Built calendars by content version; least recently used ones go first."""

    def __init__(self, max_entries: int = 128, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.hits = 0
        self.misses = 0

    def get(self, version: str) -> bytes | None:
        data = self.entries.get(version)
        if data is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(version)
        return data

    def put(self, version: str, data: bytes) -> None:
        if version in self.entries or len(data) > self.max_bytes:
            return
        self.entries[version] = data
        self.size += len(data)
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.size -= len(dropped)


def ics_cache(request: Request) -> IcsCache:
    extra = runtime(request).extra
    cache = extra.get("ics_cache")
    if not isinstance(cache, IcsCache):
        cache = extra["ics_cache"] = IcsCache()
    return cache


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def not_modified_since(request: Request, last_modified: datetime) -> bool:
    """If-Modified-Since, consulted only when the client sent no If-None-Match (RFC 9110
    §13.1.3); HTTP dates have whole seconds."""
    if "if-none-match" in request.headers:
        return False
    header = request.headers.get("if-modified-since")
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an unreadable date is ignored, as the RFC says
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


async def serve_calendar(request: Request, items: Sequence[FeedItem], *, filename: str,
                         last_modified: datetime, name: str | None = None, feed: bool = False,
                         attachment: bool = False, private: bool = False) -> Response:
    """`last_modified` must move whenever the content does (it comes from the changes that
    shape it: `feeds.*_last_modified`), or an If-Modified-Since client keeps a stale copy."""
    config = runtime(request).config
    version = content_version(items, organizer_email=config.mail_from, name=name, feed=feed)
    headers = {
        "ETag": f'"{version[:40]}"',
        "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": PRIVATE_CACHE if private else PUBLIC_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    if private:
        headers["Referrer-Policy"] = "no-referrer"
    if (etag_matches(request.headers.get("if-none-match"), headers["ETag"])
            or not_modified_since(request, last_modified)):
        return Response(status_code=304, headers=headers)
    cache = ics_cache(request)
    data = cache.get(version)
    if data is None:
        build = partial(publish_items, items, organizer_email=config.mail_from, name=name,
                        feed=feed)
        data = await run_in_threadpool(build) if len(items) >= THREAD_THRESHOLD else build()
        cache.put(version, data)
    disposition = "attachment" if attachment else "inline"
    headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return Response(data, media_type=ICS_TYPE, headers=headers)


def feed_headers(key: str | None, last_modified: datetime, *, private: bool
                 ) -> dict[str, str]:
    headers = {
        "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": PRIVATE_CACHE if private else PUBLIC_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    if key is not None:
        headers["ETag"] = f'"{key[:40]}"'
    if private:
        headers["Referrer-Policy"] = "no-referrer"
    return headers


async def answer_from_version(request: Request, key: str, *, filename: str,
                              last_modified: datetime, private: bool) -> Response | None:
    """A feed's answer that needs none of its events: a 304 for a client holding this version,
    or the body built for it before; None when it must be built."""
    headers = feed_headers(key, last_modified, private=private)
    if (etag_matches(request.headers.get("if-none-match"), headers["ETag"])
            or not_modified_since(request, last_modified)):
        return Response(status_code=304, headers=headers)
    data = ics_cache(request).get(key)
    if data is None:
        return None
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return Response(data, media_type=ICS_TYPE, headers=headers)


async def stream_feed(request: Request, items: Sequence[FeedItem], *, key: str | None,
                      filename: str, name: str, last_modified: datetime,
                      private: bool) -> Response:
    """Build the feed while sending it, a few hundred events at a time in a worker thread, and
    keep the whole under its version once it is complete. `key` is None when the plan changed
    while the events were read: the answer then has no ETag and is not kept."""
    config = runtime(request).config
    cache = ics_cache(request)
    chunks = publish_chunks(item_components(items, organizer_email=config.mail_from),
                            name=name, feed=True)

    def keep_while_sending() -> Iterator[bytes]:
        parts: list[bytes] = []
        for chunk in chunks:
            parts.append(chunk)
            yield chunk
        if key is not None:
            cache.put(key, b"".join(parts))

    headers = feed_headers(key, last_modified, private=private)
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return StreamingResponse(keep_while_sending(), media_type=ICS_TYPE, headers=headers)


async def webinar_ics(request: Request) -> Response:
    """One webinar as a download: anyone with its address, never a draft, the page as link."""
    public_id = request.path_params["public_id"]
    async with db(request) as session:
        webinar = await feeds.get_public_webinar(session, public_id)
    if webinar.status == "planned":
        raise NotFound("this item of the plan has no date yet")
    base = base_url(request)
    items = [FeedItem(webinar, feeds.public_links(base, webinar))]
    return await serve_calendar(request, items, filename=f"webinar-{webinar.public_id}.ics",
                                last_modified=webinar.updated_at, attachment=True)


async def organization_ics(request: Request) -> Response:
    """An organization's plan: its public events plus the plans of every level above it."""
    rt = runtime(request)
    since = rt.clock.now() - feeds.PAST_WINDOW
    base = base_url(request)

    async def version(reader: AsyncSession | AsyncConnection) -> tuple[feeds.PlanChain, str]:
        chain = await feeds.plan_chain(reader, since, slug=request.path_params["slug"])
        return chain, feeds.plan_version_key(chain, "org", base, rt.config.mail_from)

    async with one_read(request) as conn:  # a poll usually ends here: 304, or kept
        chain, key = await version(conn)
    org = chain.orgs[0]
    last_modified = feeds.plans_last_modified(chain.orgs)
    answer = await answer_from_version(request, key, filename=f"{org.slug}.ics",
                                       last_modified=last_modified, private=False)
    if answer is not None:
        return answer
    async with db(request) as session:
        items = feeds.org_items(await feeds.plan_webinars(session, chain.ids, since), base)
        _, after = await version(session)
    return await stream_feed(request, items, key=key if after == key else None,
                             filename=f"{org.slug}.ics", name=org.name,
                             last_modified=last_modified, private=False)


async def registration_ics(request: Request) -> Response:
    """The registrant's own event, whose join link is their personal join address.

    Its SEQUENCE is the one their calendar already holds from the invitations (never lower),
    so importing it cannot roll the event back.
    """
    async with db(request) as session:
        registration = await registrations.by_token(session, request.path_params["token"])
    if registration.status in ("pending", "waitlisted", "declined"):
        # No seat: their calendar must not show the event (the page offers no file either).
        raise NotFound("no seat for this registration yet")
    base = base_url(request)
    webinar = registration.webinar
    items = [FeedItem(webinar, feeds.registrant_links(base, registration),
                      sequence=webinar.sequence + registration.sequence_offset)]
    changed = [webinar.updated_at, registration.created_at, registration.cancelled_at]
    return await serve_calendar(request, items, filename=f"webinar-{webinar.public_id}.ics",
                                last_modified=max(t for t in changed if t is not None),
                                attachment=True, private=True)


async def make_personal_feed(request: Request) -> Response:
    """A new personal feed; its address is in this answer only (the token is stored hashed)."""
    await read_form(request)
    async with db(request) as session:
        registration = await registrations.by_token(session, request.path_params["token"])
        _, feed_token = await feeds.create_feed(session, clock(request), registration)
        await commit(request, session)
        context = await personal_context(request, session, registration)
    url = feeds.feed_url(base_url(request), feed_token)
    context["new_feed"] = {"url": url, "webcal_url": webcal_url(url)}
    return private_headers(render(request, "pages/registered.html", context))


async def end_personal_feed(request: Request) -> Response:
    """End a feed made from this registration's page (the page lists them by date)."""
    await read_form(request)
    token = request.path_params["token"]
    async with db(request) as session:
        registration = await registrations.by_token(session, token)
        feed = next((f for f in await feeds.feeds_of_registration(session, registration)
                     if f.id == request.path_params["feed_id"]), None)
        if feed is None:
            raise NotFound("no such calendar feed")
        await feeds.end_feed(session, clock(request), feed)
        await commit(request, session)
    return redirect(f"/r/{token}#feed")


async def personal_feed_ics(request: Request) -> Response:
    rt = runtime(request)
    since = rt.clock.now() - feeds.PAST_WINDOW
    base = base_url(request)
    name = gettext(rt.config.default_locale, "My events")

    async def version(session: AsyncSession, feed: MemberFeed
                      ) -> tuple[list[feeds.PlanOrg], set[int], str]:
        try:
            chain = await feeds.plan_chain(session, since,
                                           organization_id=feed.organization_id)
        except NotFound:  # the member's organization is gone: an empty calendar
            chain = feeds.PlanChain([], None)
        covered = await feeds.covered_webinar_ids(session, feed)
        return chain.orgs, covered, feeds.plan_version_key(
            chain, "personal", feed.id, sorted(covered), base, rt.config.mail_from, name)

    async with db(request) as session:
        feed = await feeds.by_token(session, request.path_params["feed_token"])
        chain, covered, key = await version(session, feed)
        last_modified = await feeds.personal_last_modified(session, feed, chain)
        answer = await answer_from_version(request, key, filename="my-events.ics",
                                           last_modified=last_modified, private=True)
        if answer is not None:
            return answer
        plans = await feeds.plan_webinars(session, [org.id for org in chain], since)
        webinars = [w for w in plans if w.id not in covered]
        *_, after = await version(session, feed)
    items = feeds.org_items(webinars, base)
    title = f"{name}: {chain[0].name}" if chain else name
    return await stream_feed(request, items, key=key if after == key else None,
                             filename="my-events.ics", name=title,
                             last_modified=last_modified, private=True)


REVOKED_TEXT = ("This calendar address no longer works. Calendar apps subscribed to it stop "
                "receiving updates; you may remove the subscription there.")
REVOKED_PAGE = templates.env.from_string("""{% extends "pages/base.html" %}
{% block title %}{{ _("Calendar feed turned off") }}{% endblock %}
{% block content %}
<h1>{{ _("Calendar feed turned off") }}</h1>
<p class="notice ok">{{ _(revoked_text) }}</p>
<p><a href="/calendar">{{ _("Calendar") }}</a></p>
{% endblock %}
""")


async def revoke_personal_feed(request: Request) -> Response:
    form = await read_form(request)
    async with db(request) as session:
        await feeds.revoke(session, clock(request), request.path_params["feed_token"])
        await commit(request, session)
    back = form.get("registration_token")
    if isinstance(back, str) and TOKEN_RE.match(back):
        return redirect(f"/r/{back}")
    lang = locale(request)
    html = REVOKED_PAGE.render(
        request=request, lang=lang,
        csrf_token=csrf_token(request), signed_in=signed_in(request),
        base_url=base_url(request), now=runtime(request).clock.now(),
        revoked_text=REVOKED_TEXT)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


routes = [
    route("/w/{public_id}.ics", GET=webinar_ics),
    route("/o/{slug}.ics", GET=organization_ics),
    route("/r/{token}.ics", GET=registration_ics),
    route("/r/{token}/feed", POST=make_personal_feed),
    route("/r/{token}/feeds/{feed_id:id}/end", POST=end_personal_feed),
    route("/feeds/{feed_token}.ics", GET=personal_feed_ics),
    route("/feeds/{feed_token}/revoke", POST=revoke_personal_feed),
]
