"""Every answer carries a Content-Security-Policy, and no page needs inline code to work.

With `script-src 'self'` and `style-src 'self'` an injected `<script>` or `style=` does
nothing, so the pages themselves must keep their CSS and JavaScript in /static.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from webinars.clock import FixedClock
from webinars.queue import InProcessQueue
from webinars.runtime import Runtime

from .factories import login
from .test_public_pages import open_webinar, personal_path, post_registration

POLICY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
    "img-src": "'self' data:", "object-src": "'none'", "base-uri": "'none'",
    "frame-ancestors": "'none'", "form-action": "'self'",
}
PAGES_DIR = Path(__file__).resolve().parents[1] / "templates" / "pages"
#: What `style-src 'self'` / `script-src 'self'` would block in a page.
INLINE = re.compile(r"""<style|<script(?![^>]*\bsrc=)|\sstyle\s*=|\son[a-z]+\s*=|javascript:""",
                    re.IGNORECASE)


def policy(response: httpx.Response) -> dict[str, str]:
    header = response.headers.get("content-security-policy")
    assert header, f"{response.request.url.path} has no Content-Security-Policy"
    directives = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


@pytest.fixture
async def pages(runtime: Runtime, client: httpx.AsyncClient, queue: InProcessQueue,
                clock: FixedClock) -> AsyncIterator[dict[str, str]]:
    """The address of one page of every kind a member (or anybody) sees."""
    async with runtime.sessionmaker() as session:
        webinar = await open_webinar(session, queue, clock)
    registered = await post_registration(client, webinar)
    assert registered.status_code == 200
    await queue.drain()  # the invitation lands in the outbox
    yield {
        "public calendar": "/calendar",
        "organization page": "/o/federation",  # open_webinar's organization
        "webinar page": f"/w/{webinar.public_id}",
        "personal page": await personal_path(client, webinar),
        "login": "/login",
        "not found": "/w/no-such-webinar",
        "no such address": "/no/such/page",
    }
    await queue.drain()


async def organizer_pages(client: httpx.AsyncClient, webinar_path: str) -> dict[str, str]:
    """Signs in, then the address of one page of every kind an organizer sees."""
    await login(client)
    public_id = webinar_path.removeprefix("/w/")
    dashboard = (await client.get("/dashboard")).text
    admin = re.search(r'href="(/webinars/\d+)"', dashboard)
    message = re.search(r'href="(/outbox/\d+)"', (await client.get("/outbox")).text)
    assert admin and message and public_id in (await client.get(admin.group(1))).text
    return {
        "dashboard": "/dashboard",
        "webinar form": "/webinars/new",
        "webinar admin": admin.group(1),
        "edit form": f"{admin.group(1)}/edit",
        "cancel confirmation": f"{admin.group(1)}/cancel",
        "registrants": f"{admin.group(1)}/registrants",
        "deliveries": f"{admin.group(1)}/deliveries",
        "outbox": "/outbox",
        "outbox message": message.group(1),
        "API tokens": "/tokens",
        "not found, signed in": "/webinars/999999",
    }


async def assert_protected_page(client: httpx.AsyncClient, kind: str, path: str) -> None:
    response = await client.get(path)
    assert response.status_code in (200, 404), (kind, response.status_code)
    assert response.headers["content-type"].startswith("text/html")
    assert policy(response) == POLICY, kind
    inline = INLINE.findall(response.text)
    assert not inline, f"{kind} ({path}) has inline code the policy blocks: {inline}"
    assert re.search(r'<link rel="stylesheet" href="/static/', response.text), kind


async def test_every_page_has_the_policy_and_no_inline_code(
    client: httpx.AsyncClient, pages: dict[str, str]
) -> None:
    for kind, path in pages.items():
        await assert_protected_page(client, kind, path)
    for kind, path in (await organizer_pages(client, pages["webinar page"])).items():
        await assert_protected_page(client, kind, path)


async def test_redirects_json_and_calendars_carry_it_too(
    client: httpx.AsyncClient, pages: dict[str, str]
) -> None:
    slug = pages["organization page"].removeprefix("/o/")
    for path, status in [("/", 303), ("/healthz", 200), ("/api/v1/webinars", 401),
                         (f"/o/{slug}.ics", 200)]:
        response = await client.get(path)
        assert response.status_code == status, path
        assert policy(response) == POLICY, path


async def test_the_stylesheet_and_script_come_from_static_and_are_cached(
    client: httpx.AsyncClient, pages: dict[str, str]
) -> None:
    page = (await client.get(pages["webinar page"])).text
    css = re.search(r'<link rel="stylesheet" href="(/static/[^"?]+\.css\?v=[^"]+)"', page)
    js = re.search(r'<script src="(/static/local-time\.js\?v=[^"]+)"', page)
    assert css and js, "the webinar page must link its CSS and JS from /static"
    for url, kind in [(css.group(1), "text/css"), (js.group(1), "javascript")]:
        response = await client.get(url)
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert policy(response) == POLICY
        # The address names the file's version, so browsers may keep it for a year ...
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        # ... while an old or missing version is checked again, never kept as the new one.
        for stale in (url.split("?")[0], url.split("?")[0] + "?v=0ld"):
            again = await client.get(stale)
            assert again.status_code == 200 and again.headers["cache-control"] == "no-cache"
            revalidated = await client.get(stale, headers={"if-none-match": again.headers["etag"]})
            assert revalidated.status_code == 304
    assert "local-time" in (await client.get(js.group(1))).text
    assert (await client.get("/static/no-such.css")).status_code == 404


def test_no_template_needs_inline_code() -> None:
    """Pages no test renders (a rare error state) are held to the same rule."""
    found = {path.name: INLINE.findall(path.read_text()) for path in PAGES_DIR.glob("*.html")}
    assert not {name: hits for name, hits in found.items() if hits}


async def test_pages_and_feeds_are_compressed_for_clients_that_ask(
    client: httpx.AsyncClient, pages: dict[str, str]
) -> None:
    """A page or a calendar feed goes gzip-compressed to a client that accepts it (a
    fraction of the bytes on a phone), and plain to one that does not."""
    slug = pages["organization page"].removeprefix("/o/")
    for path in (pages["webinar page"], pages["organization page"], f"/o/{slug}.ics"):
        plain = await client.get(path, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers, path
        packed = await client.get(path, headers={"accept-encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip", path
        assert "Accept-Encoding" in packed.headers["vary"], path
        assert int(packed.headers["content-length"]) < len(plain.content), path
        assert packed.content == plain.content  # httpx decodes: the same page
        assert policy(packed) == POLICY, path


async def test_every_page_starts_with_a_skip_link_to_its_content(
    client: httpx.AsyncClient, pages: dict[str, str]
) -> None:
    for kind, path in pages.items():
        page = (await client.get(path)).text
        assert re.search(r'<body[^>]*>\s*<a class="skip-link" href="#main">', page), kind
        assert '<main id="main" tabindex="-1">' in page, kind
