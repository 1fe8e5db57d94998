"""An organization's brand on the web: the admin uploads or removes a logo (the colour and the
description are fields of the edit form, `orgs.edit`), and the public pages load the logo
and the brand stylesheet from here.

The Content-Security-Policy allows no inline style, so a page never carries the colour
itself: it links /o/<slug>/brand.css?v=<version>, which sets the `--accent` the site's
stylesheet paints buttons and links with. Both answers are versioned like /static: the
current version may be kept for a year, any other address is checked again (ETag).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .. import branding, organizations
from ..assets import IMMUTABLE, REVALIDATE
from ..errors import NotFound, ValidationFailed
from .common import clock, db, locale, read_form, redirect
from .organizer import reason_text
from .orgs import admin_of, edit_page, read_upload
from .routing import route


def _versioned(request: Request, body: bytes, version: str, media_type: str,
               extra: dict[str, str] | None = None) -> Response:
    etag = f'"{version}"'
    headers = {"ETag": etag, "X-Content-Type-Options": "nosniff",
               "Cache-Control": (IMMUTABLE if request.query_params.get("v") == version
                                 else REVALIDATE), **(extra or {})}
    if etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


async def brand_css(request: Request) -> Response:
    async with db(request) as session:
        org = await organizations.get_by_slug(session, request.path_params["slug"])
        brand = await branding.brand_of(session, org.id)
    return _versioned(request, brand.css.encode(), brand.css_version, "text/css; charset=utf-8")


async def logo(request: Request) -> Response:
    """The logo the organization shows (its own or its nearest ancestor's): always our own
    PNG encoding, inline, never sniffed as anything else."""
    async with db(request) as session:
        org = await organizations.get_by_slug(session, request.path_params["slug"])
        brand = await branding.brand_of(session, org.id)
        data = await branding.logo_png(session, brand)
    if data is None or brand.logo_version is None:
        raise NotFound("this organization has no logo")
    # No Cross-Origin-Resource-Policy: webmail shows it from the mail provider's own origin.
    return _versioned(request, data, brand.logo_version, "image/png",
                      {"Content-Disposition": 'inline; filename="logo.png"'})


async def upload_logo(request: Request) -> Response:
    org_id = request.path_params["id"]
    async with db(request) as session:  # who may, before the body is read
        await admin_of(request, session, org_id)
    data, _ = await read_upload(request)
    async with db(request) as session:
        await admin_of(request, session, org_id)
        try:
            await branding.set_logo(session, clock(request), org_id, data)
        except ValidationFailed as exc:
            await session.rollback()
            lang = locale(request)
            return await edit_page(request, status_code=422, errors={
                k: reason_text(lang, v) for k, v in exc.fields.items()})
        await session.commit()
    return redirect(f"/organizations/{org_id}/edit#brand")


async def remove_logo(request: Request) -> Response:
    await read_form(request)
    org_id = request.path_params["id"]
    async with db(request) as session:
        await admin_of(request, session, org_id)
        await branding.remove_logo(session, clock(request), org_id)
        await session.commit()
    return redirect(f"/organizations/{org_id}/edit#brand")


routes = [
    route("/o/{slug:key}/brand.css", GET=brand_css),
    route("/o/{slug:key}/logo.png", GET=logo),
    route("/organizations/{id:id}/logo", POST=upload_logo),
    route("/organizations/{id:id}/logo/remove", POST=remove_logo),
]
