"""An organization's logo, colour and description: uploads judged by their bytes and
re-encoded, inheritance down the tree, the colour only through the brand stylesheet, the
brand in members' e-mails, and who may change it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from webinars.branding import MAX_LOGO_BYTES, contrast_with_white, sniff
from webinars.clock import FixedClock
from webinars.models import Account, Organization, OrganizationBrand, OutboxMessage
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime

from .factories import csrf_from, login, make_account, make_org, make_webinar
from .test_public_pages import post_registration
from .test_security_headers import POLICY, assert_protected_page, policy

SECRET_MARK = b"SECRET-METADATA-42"


@pytest.fixture(autouse=True)
async def settle(queue: InProcessQueue) -> AsyncIterator[None]:
    yield
    await queue.drain()


@dataclass
class Tree:
    union: Organization
    region: Organization
    school: Organization


async def make_tree(runtime: Runtime, clock: FixedClock) -> Tree:
    """union → Volga region → school; an admin at the top and at the region, a plain
    organizer at the school."""
    async with runtime.sessionmaker() as session:
        union = await make_org(session, clock, "union", name="Профсоюз", level="federal")
        region = await make_org(session, clock, "volga", name="Поволжская организация",
                                parent=union, level="regional")
        school = await make_org(session, clock, "school-5", name="Школа № 5", parent=region,
                                level="primary")
        await make_account(session, clock, union, "admin@union.example", role="admin")
        await make_account(session, clock, region, "admin@volga.example", role="admin")
        await make_account(session, clock, school, "org@school.example", role="organizer")
        await session.commit()
    return Tree(union, region, school)


def image(fmt: str, size: tuple[int, int] = (1024, 600), mode: str = "RGB") -> bytes:
    """A real image made by Pillow, with metadata that must not survive re-encoding."""
    picture = Image.new(mode, size, 0 if mode == "1" else (200, 30, 30))
    out = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", SECRET_MARK.decode())
        picture.save(out, format="PNG", pnginfo=info)
    elif fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010E] = SECRET_MARK.decode()  # ImageDescription
        picture.save(out, format="JPEG", exif=exif.tobytes(), comment=SECRET_MARK)
    else:
        exif = Image.Exif()
        exif[0x010E] = SECRET_MARK.decode()
        picture.save(out, format=fmt, exif=exif.tobytes())
    data = out.getvalue()
    assert fmt == "GIF" or mode == "1" or SECRET_MARK in data
    return data


async def as_admin(client: httpx.AsyncClient, email: str) -> None:
    client.cookies.clear()
    await login(client, email)
    await client.get("/organizations?lang=en")  # reasons read in English below


async def post_logo(client: httpx.AsyncClient, org: Organization, data: bytes,
                    name: str = "logo.png", content_type: str = "image/png") -> httpx.Response:
    csrf = csrf_from((await client.get("/organizations")).text)
    return await client.post(f"/organizations/{org.id}/logo", data={"csrf_token": csrf},
                             files={"file": (name, data, content_type)})


async def post_style(client: httpx.AsyncClient, org: Organization, color: str,
                     description: str = "") -> httpx.Response:
    page = await client.get(f"/organizations/{org.id}/edit")
    csrf = csrf_from(page.text)
    return await client.post(f"/organizations/{org.id}/edit", data={
        "csrf_token": csrf, "name": org.name, "level": org.level, "timezone": org.timezone,
        "parent_id": str(org.parent_id or ""), "color": color, "description": description})


async def brand_rows(runtime: Runtime) -> list[tuple[int, str | None, str | None, str | None]]:
    async with runtime.sessionmaker() as session:
        return [tuple(r) for r in (await session.execute(  # type: ignore[misc]
            select(OrganizationBrand.organization_id, OrganizationBrand.color,
                   OrganizationBrand.description, OrganizationBrand.logo_version)
            .order_by(OrganizationBrand.organization_id))).all()]


def logo_src(page: str) -> tuple[str, str]:
    """(src, alt) of the organization's logo on a page."""
    match = re.search(r'<img class="org-logo" src="([^"]+)" alt="([^"]*)"', page)
    assert match, "no logo on the page"
    return match.group(1).replace("&amp;", "&"), match.group(2)


def brand_css_link(page: str) -> str | None:
    match = re.search(r'<link rel="stylesheet" href="(/o/[^"]+/brand\.css\?v=[0-9a-f]+)"', page)
    return match.group(1) if match else None


# --- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
async def test_a_real_image_is_reencoded_to_png_and_served_with_safe_headers(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, fmt: str
) -> None:
    tree = await make_tree(runtime, clock)
    await as_admin(client, "admin@volga.example")
    sent = image(fmt)
    response = await post_logo(client, tree.region, sent, f"logo.{fmt.lower()}",
                               f"image/{fmt.lower()}")
    assert response.status_code == 303, response.text
    async with runtime.sessionmaker() as session:
        stored = await session.scalar(select(OrganizationBrand.logo_png).where(
            OrganizationBrand.organization_id == tree.region.id))
    assert stored is not None and stored != sent and SECRET_MARK not in stored

    src, alt = logo_src((await client.get("/o/volga")).text)
    assert alt == "Поволжская организация"
    served = await client.get(src)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert policy(served) == POLICY
    assert served.content == stored and sniff(served.content) == "PNG"
    with Image.open(io.BytesIO(served.content)) as png:
        assert png.format == "PNG" and png.size == (512, 300)  # fitted into 512×512
        assert not {k for k in png.info if k not in ("dpi", "gamma")}, png.info
    # Another version's address is checked again; the ETag answers it without the bytes.
    stale = await client.get(src.split("?")[0] + "?v=0ld")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    again = await client.get(src, headers={"if-none-match": served.headers["etag"]})
    assert again.status_code == 304 and not again.content


async def test_anything_but_a_small_real_image_is_refused_with_its_reason_and_not_stored(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tree = await make_tree(runtime, clock)
    await as_admin(client, "admin@volga.example")
    html = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    cases = [
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
         "logo.svg", "image/svg+xml", "must be a PNG, JPEG or WebP image"),
        ("html named .png", html, "logo.png", "image/png", "must be a PNG, JPEG or WebP image"),
        ("polyglot", b"\x89PNG\r\n\x1a\n" + html, "logo.png", "image/png",
         "could not be read as an image"),
        ("gif", image("GIF", (64, 64)), "logo.gif", "image/gif",
         "must be a PNG, JPEG or WebP image"),
        ("oversized", image("PNG", (64, 64)) + b"\0" * MAX_LOGO_BYTES, "logo.png", "image/png",
         "is larger than 1 MB"),
        ("10000×10000 bomb", image("PNG", (10000, 10000), mode="1"), "logo.png", "image/png",
         "must be at most 2000×2000 pixels"),
        ("too wide", image("PNG", (2400, 100)), "logo.png", "image/png",
         "must be at most 2000×2000 pixels"),
        ("1×1", image("PNG", (1, 1)), "logo.png", "image/png", "must be at least 32×32 pixels"),
        ("empty", b"", "logo.png", "image/png", "choose a PNG, JPEG or WebP image"),
    ]
    for label, data, name, content_type, reason in cases:
        response = await post_logo(client, tree.region, data, name, content_type)
        assert response.status_code == 422, label
        error = re.search(r'<p class="field-error" id="logo-error" data-field="logo">([^<]*)</p>',
                          response.text)
        assert error and error.group(1) == reason, (label, error and error.group(1))
        assert await brand_rows(runtime) == [], label
    assert (await client.get("/o/volga/logo.png")).status_code == 404


async def test_a_refusal_reads_in_russian_on_a_russian_page(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tree = await make_tree(runtime, clock)
    client.cookies.clear()
    await login(client, "admin@volga.example")
    await client.get("/organizations?lang=ru")
    response = await post_logo(client, tree.region, image("PNG", (1, 1)))
    assert response.status_code == 422
    assert "должен быть не меньше 32×32 пикселей" in response.text
    light = await post_style(client, tree.region, "#ffcc00")
    assert "слишком светлый: контраст белого текста на нём 1,5:1" in light.text


# --- inheritance and display ---------------------------------------------------------------


async def test_a_school_shows_its_regions_brand_until_it_sets_its_own(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(runtime, clock)
    async with runtime.sessionmaker() as session:
        admin = await session.scalar(select(Account).where(
            Account.email == "admin@union.example"))
        assert admin is not None
        school = await session.get(Organization, tree.school.id)
        assert school is not None
        webinar = await make_webinar(session, clock, admin, school)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await as_admin(client, "admin@volga.example")
    assert (await post_logo(client, tree.region, image("PNG"))).status_code == 303
    assert (await post_style(client, tree.region, "#1F4E8C",
                             "Поволжье <b>вместе</b>")).status_code == 303

    school_page = (await client.get("/o/school-5")).text
    src, alt = logo_src(school_page)
    assert src.startswith("/o/school-5/logo.png?v=") and alt == "Поволжская организация"
    assert "Поволжье &lt;b&gt;вместе&lt;/b&gt;" in school_page  # plain text, escaped
    css = brand_css_link(school_page)
    assert css and "#1f4e8c" in (await client.get(css)).text
    event_page = (await client.get(f"/w/{webinar.public_id}")).text
    assert logo_src(event_page)[1] == "Поволжская организация"
    assert brand_css_link(event_page) == css
    region_logo = (await client.get(src)).content

    # The school's own colour; the logo and the description are still the region's.
    assert (await post_style(client, tree.school, "#0b6e4f")).status_code == 303
    school_page = (await client.get("/o/school-5")).text
    css_school = brand_css_link(school_page)
    assert css_school and css_school != css
    assert "#0b6e4f" in (await client.get(css_school)).text
    assert "#1f4e8c" in (await client.get(brand_css_link(
        (await client.get("/o/volga")).text) or "")).text
    assert logo_src(school_page)[1] == "Поволжская организация"
    assert "Поволжье" in school_page
    # ... then its own logo, and the region's again once it is removed.
    assert (await post_logo(client, tree.school, image("JPEG", (300, 300)), "s.jpg",
                            "image/jpeg")).status_code == 303
    src_school, alt = logo_src((await client.get("/o/school-5")).text)
    assert alt == "Школа № 5" and (await client.get(src_school)).content != region_logo
    assert logo_src((await client.get("/o/volga")).text)[1] == "Поволжская организация"
    csrf = csrf_from((await client.get(f"/organizations/{tree.school.id}/edit")).text)
    removed = await client.post(f"/organizations/{tree.school.id}/logo/remove",
                                data={"csrf_token": csrf})
    assert removed.status_code == 303
    src, alt = logo_src((await client.get("/o/school-5")).text)
    assert alt == "Поволжская организация" and (await client.get(src)).content == region_logo
    # The top organization has none of it.
    top = (await client.get("/o/union")).text
    assert 'class="org-logo"' not in top and brand_css_link(top) is None


async def test_the_colour_reaches_pages_only_through_the_stylesheet(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tree = await make_tree(runtime, clock)
    await as_admin(client, "admin@volga.example")
    assert (await post_style(client, tree.region, "#5a2d82")).status_code == 303
    assert (await post_logo(client, tree.region, image("WEBP"), "l.webp",
                            "image/webp")).status_code == 303
    for path in ("/o/volga", "/o/school-5", f"/organizations/{tree.region.id}/edit"):
        await assert_protected_page(client, path, path)
    page = (await client.get("/o/school-5")).text
    assert "5a2d82" not in page  # neither in a style= nor anywhere else
    css = await client.get(brand_css_link(page) or "")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--accent: #5a2d82" in css.text
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert policy(css) == POLICY
    again = await client.get(brand_css_link(page) or "",
                             headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304


async def test_a_colour_white_text_cannot_be_read_on_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tree = await make_tree(runtime, clock)
    await as_admin(client, "admin@volga.example")
    too_light = ("is too light: white text on it has a contrast of {0}:1, at least 4.5:1 is "
                 "needed; choose a darker colour")
    for color, reason in [
        ("#ffcc00", too_light.format("1.5")),
        ("#777777", too_light.format("4.4")),
        ("#fff", "must be a colour written as #rrggbb"),
        ("red", "must be a colour written as #rrggbb"),
        ("#1f5fbf;} body{display:none", "must be a colour written as #rrggbb"),
    ]:
        response = await post_style(client, tree.region, color)
        assert response.status_code == 422, color
        assert f'data-field="color">{reason}</p>' in response.text.replace("&#39;", "'"), color
    long = await post_style(client, tree.region, "", "я" * 301)
    assert long.status_code == 422 and 'data-field="description">must be at most 300' \
        in long.text
    assert await brand_rows(runtime) == []
    assert (await post_style(client, tree.region, "#767676", "Коротко")).status_code == 303
    assert await brand_rows(runtime) == [(tree.region.id, "#767676", "Коротко", None)]
    # Emptied again: the organization inherits again.
    assert (await post_style(client, tree.region, "", "")).status_code == 303
    assert await brand_rows(runtime) == [(tree.region.id, None, None, None)]


def test_contrast_follows_wcag() -> None:
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#ffffff"), 1) == 1.0
    assert contrast_with_white("#767676") >= 4.5 > contrast_with_white("#777777")


# --- e-mail --------------------------------------------------------------------------------


async def test_a_members_invitation_carries_the_colour_in_its_html_only(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock, queue: InProcessQueue
) -> None:
    tree = await make_tree(runtime, clock)
    await as_admin(client, "admin@volga.example")
    assert (await post_style(client, tree.region, "#1f4e8c")).status_code == 303
    assert (await post_logo(client, tree.region, image("PNG"))).status_code == 303
    async with runtime.sessionmaker() as session:
        admin = await session.scalar(select(Account).where(
            Account.email == "admin@volga.example"))
        school = await session.get(Organization, tree.school.id)
        assert admin is not None and school is not None
        webinar = await make_webinar(session, clock, admin, school)
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    client.cookies.clear()
    assert (await post_registration(client, webinar)).status_code == 200  # "we have sent the link"
    await queue.drain()
    async with runtime.sessionmaker() as session:
        raw = await session.scalar(select(OutboxMessage.raw).where(
            OutboxMessage.recipient == "maria@school.example"))
    assert raw is not None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = next(p.get_content() for p in message.walk() if p.get_content_type() == "text/html")
    text = next(p.get_content() for p in message.walk() if p.get_content_type() == "text/plain")
    assert "background:#1f4e8c;color:#ffffff;" in html
    # This test's address is http://: mail clients load no such image, so none is linked.
    assert "logo.png" not in html
    assert "#1f4e8c" not in text and "logo" not in text and "style" not in text


# --- who may -------------------------------------------------------------------------------


async def test_only_an_admin_of_the_organization_or_above_changes_its_brand(
    runtime: Runtime, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    tree = await make_tree(runtime, clock)
    csrf = csrf_from((await client.get("/login")).text)
    anonymous = await client.post(f"/organizations/{tree.school.id}/logo",
                                  data={"csrf_token": csrf},
                                  files={"file": ("l.png", image("PNG"), "image/png")})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    # A plain organizer of the school is no admin; the region's admin is none of the top.
    client.cookies.clear()
    await login(client, "org@school.example")
    csrf = csrf_from((await client.get("/dashboard")).text)
    for path in (f"/organizations/{tree.school.id}/logo",
                 f"/organizations/{tree.school.id}/logo/remove"):
        response = await client.post(path, data={"csrf_token": csrf},
                                     files={"file": ("l.png", image("PNG"), "image/png")}
                                     if path.endswith("/logo") else None)
        assert response.status_code == 403, path
    assert (await post_style_forbidden(client, tree.school, csrf)) == 403
    await as_admin(client, "admin@volga.example")
    assert (await post_logo(client, tree.union, image("PNG"))).status_code == 403
    csrf = csrf_from((await client.get("/organizations")).text)
    assert (await client.post(f"/organizations/{tree.union.id}/edit", data={
        "csrf_token": csrf, "name": "x", "level": "federal", "timezone": "Europe/Moscow",
        "parent_id": "", "color": "#000000"})).status_code == 403
    assert await brand_rows(runtime) == []
    # The top's admin manages everything below it.
    await as_admin(client, "admin@union.example")
    assert (await post_logo(client, tree.school, image("PNG"))).status_code == 303
    async with runtime.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(OrganizationBrand))
    assert count == 1


async def post_style_forbidden(client: httpx.AsyncClient, org: Organization, csrf: str) -> int:
    response = await client.post(f"/organizations/{org.id}/edit", data={
        "csrf_token": csrf, "name": org.name, "level": org.level, "timezone": org.timezone,
        "parent_id": str(org.parent_id or ""), "color": "#000000"})
    return response.status_code
