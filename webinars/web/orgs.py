"""The organization tree on the web: an admin's part of it, a new child, rename and move, its
colour and description (the logo: `web.branding`), and importing a whole region from a CSV
file."""

from __future__ import annotations

import hmac
from collections.abc import AsyncGenerator

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

from .. import branding
from ..errors import ValidationFailed
from ..i18n import gettext
from ..models import Organization
from ..org_import import ImportFailed, import_tree
from ..organizations import (
    admin_subtree,
    all_organizations,
    create_organization,
    depth,
    require_admin_within,
    update_organization,
)
from .common import clock, db, locale, read_body, read_form, redirect, render, require_account
from .organizer import reason_text
from .people import require_admin
from .routing import route

#: A CSV upload: 5,000 schools take about 400 KB.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
FIELDS = ("slug", "name", "level", "timezone", "parent_id")


def _ordered(orgs: list[Organization], administered: set[int]) -> list[tuple[Organization, int]]:
    """The administered organizations depth-first, each with its depth for indenting."""
    children: dict[int | None, list[Organization]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org)
    tops = [o for o in orgs if o.id in administered and o.parent_id not in administered]
    result: list[tuple[Organization, int]] = []
    stack = [(o, 0) for o in sorted(tops, key=lambda o: o.name, reverse=True)]
    while stack:
        org, level = stack.pop()
        result.append((org, level))
        stack.extend((c, level + 1) for c in sorted(children.get(org.id, []),
                                                     key=lambda o: o.name, reverse=True))
    return result


async def tree_page(request: Request, *, form: dict[str, str] | None = None,
                    errors: dict[str, str] | None = None, status_code: int = 200,
                    report: object = None) -> Response:
    async with db(request) as session:
        _, administered = await require_admin(request, session)
        orgs = await all_organizations(session)
    return render(request, "pages/organizations.html", {
        "tree": _ordered(orgs, administered), "form": form or {}, "errors": errors or {},
        "report": report}, status_code=status_code)


async def tree(request: Request) -> Response:
    return await tree_page(request)


async def admin_of(request: Request, session: AsyncSession, org_id: int) -> set[int]:
    """What the signed-in account administers, if that includes `org_id`: a missing
    organization is 404, one outside the admin's part 403 (its brand too: `web.branding`)."""
    account = await require_account(request, session)
    orgs = await all_organizations(session)
    if not any(o.id == org_id for o in orgs):
        raise HTTPException(404, "Not found")
    administered = admin_subtree(orgs, account)
    require_admin_within(administered, org_id)
    return administered


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


async def create_child(request: Request) -> Response:
    form = await read_form(request)
    lang = locale(request)
    values = {k: str(form.get(k) or "").strip()[:300] for k in FIELDS}
    async with db(request) as session:
        _, administered = await require_admin(request, session)
        parent_id = _int(values["parent_id"])
        parent = await session.get(Organization, parent_id) if parent_id else None
        try:
            if parent is None or parent.id not in administered:
                raise ValidationFailed({"parent_id":
                                        "must be an organization of your part of the tree"})
            await create_organization(session, clock(request), slug=values["slug"],
                                      name=values["name"],
                                      timezone=values["timezone"] or parent.timezone,
                                      parent=parent, level=values["level"] or "other")
        except ValidationFailed as exc:
            await session.rollback()
            return await tree_page(request, form=values, status_code=422, errors={
                k: reason_text(lang, v) for k, v in exc.fields.items()})
        await session.commit()
    return redirect("/organizations")


async def edit_page(request: Request, *, form: dict[str, str] | None = None,
                    errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    async with db(request) as session:
        administered = await admin_of(request, session, request.path_params["id"])
        org = await session.get(Organization, request.path_params["id"])
        assert org is not None
        orgs = await all_organizations(session)
        own_brands = await branding.own_brands(session)
    own = own_brands.get(org.id)
    brand = branding.inherit(orgs, own_brands, org.id)
    return render(request, "pages/organization_edit.html", {
        "org": org, "tree": _ordered(orgs, administered), "depth": depth(orgs, org.id),
        "form": form or {"name": org.name, "level": org.level, "timezone": org.timezone,
                         "parent_id": str(org.parent_id or ""),
                         "color": (own.color if own else None) or "",
                         "description": (own.description if own else None) or ""},
        "brand": brand, "own_logo": bool(own and own.logo_version),
        "limits": {"bytes": branding.MAX_LOGO_BYTES // (1024 * 1024),
                   "max": branding.MAX_LOGO_SIDE, "min": branding.MIN_LOGO_SIDE,
                   "description": branding.MAX_DESCRIPTION},
        "errors": errors or {}}, status_code=status_code)


async def edit(request: Request) -> Response:
    form = await read_form(request)
    lang = locale(request)
    values = {k: str(form.get(k) or "").strip()[:300] for k in FIELDS}
    # Longer than any valid value, so a too-long description is refused, not cut short.
    style = {k: str(form.get(k) or "")[:2000] for k in ("color", "description")}
    async with db(request) as session:
        administered = await admin_of(request, session, request.path_params["id"])
        org = await session.get(Organization, request.path_params["id"])
        assert org is not None
        errors: dict[str, str] = {}
        try:
            await update_organization(session, org, administered, name=values["name"],
                                      level=values["level"], timezone=values["timezone"],
                                      parent_id=_int(values["parent_id"]))
        except ValidationFailed as exc:
            errors.update(exc.fields)
        try:
            await branding.set_style(session, clock(request), org.id, **style)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        if errors:
            await session.rollback()
            return await edit_page(request, form={**values, **style}, status_code=422,
                                   errors={k: reason_text(lang, v) for k, v in errors.items()})
        await session.commit()
    return redirect("/organizations")


async def _replay(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def read_upload(request: Request) -> tuple[bytes, str]:
    """The uploaded file and the form's CSRF token, from a size-limited multipart body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise HTTPException(415, "send the file as multipart/form-data")
    body = await read_body(request, MAX_UPLOAD_BYTES)
    parser = MultiPartParser(request.headers, _replay(body), max_files=1, max_fields=5,
                             max_part_size=MAX_UPLOAD_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(400, "the upload could not be read") from exc
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "the form has expired; reload the page and try again")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return b"", sent
    data = await upload.read()
    await upload.close()
    return data, sent


async def import_csv(request: Request) -> Response:
    lang = locale(request)
    data, _ = await read_upload(request)
    async with db(request) as session:
        _, administered = await require_admin(request, session)
        try:
            outcome = await import_tree(session, clock(request), data,
                                        administered=administered)
        except ImportFailed as exc:
            await session.rollback()
            return await tree_page(request, status_code=422,
                                   report={"problems": exc.lines(lang)})
        await session.commit()
    return await tree_page(request, report={
        "created": outcome.created, "updated": outcome.updated,
        "unchanged": outcome.unchanged, "message": gettext(lang, "The file is imported.")})


routes = [
    route("/organizations", GET=tree),
    route("/organizations/new", POST=create_child),
    route("/organizations/import", POST=import_csv),
    route("/organizations/{id:id}/edit", GET=edit_page, POST=edit),
]
