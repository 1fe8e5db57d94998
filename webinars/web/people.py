"""People pages: admins invite, re-invite, change roles and remove access; anyone sets a
password from a one-time link or asks for one ("forgot password").

Mail goes straight to the mailer after the commit (the outbox in the embedded mode, SMTP
otherwise), not through Redis: a lost invitation is sent again from this page, a lost reset
link is asked for again, so nothing rests on the queue.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from ..errors import DomainError, ValidationFailed
from ..i18n import format_when
from ..mailer import MailError
from ..models import Account, Organization
from ..notices import invitation_notice, password_reset_notice
from ..organizations import admin_subtree, all_organizations, require_admin_within
from ..people import (
    INVITE_LIFETIME,
    RESET_LIFETIME,
    account_for_link,
    change_role,
    forgotten,
    has_password,
    invite,
    password_link_token,
    people,
    remove_role,
    renew_invitation,
    set_password,
)
from ..requests import runtime
from .common import (
    SESSION_ID,
    client_address,
    clock,
    db,
    locale,
    private_headers,
    read_form,
    redirect,
    render,
    require_account,
)
from .organizer import reason_text
from .routing import route

log = logging.getLogger(__name__)


async def require_admin(request: Request, session: AsyncSession) -> tuple[Account, set[int]]:
    """The signed-in admin and the organizations they administer; 403 for anyone else."""
    account = await require_account(request, session)
    administered = admin_subtree(await all_organizations(session), account)
    if not administered:
        require_admin_within(administered, 0)  # 403 with the reason
    return account, administered


def _link(request: Request, account: Account, expires_at: datetime) -> str:
    rt = runtime(request)
    token = password_link_token(rt.config.secret_key, account, expires_at)
    return f"{rt.config.base_url}/account/setup/{token}"


async def _send_invitation(request: Request, inviter: Account, account: Account,
                           organization: Organization, role: str) -> bool:
    rt = runtime(request)
    now = rt.clock.now()
    expires_at = now + INVITE_LIFETIME
    mail = invitation_notice(
        rt.config, to=account.email, locale=account.locale, inviter=inviter.name,
        organization=organization.name, role=role, link=_link(request, account, expires_at),
        expires=format_when(expires_at, organization.timezone, account.locale), now=now)
    try:
        await rt.mailer.send(mail)
    except MailError as exc:
        log.warning("an invitation could not be sent: %s", exc.reason)
        return False
    return True


async def people_page(request: Request) -> Response:
    return await _again(request, {}, {}, status_code=200)


async def invite_person(request: Request) -> Response:
    lang = locale(request)
    form = await read_form(request)
    values = {k: str(form.get(k) or "")[:300] for k in
              ("email", "name", "organization_id", "role", "locale")}
    async with db(request) as session:
        account, administered = await require_admin(request, session)
        org_id = int(values["organization_id"]) if values["organization_id"].isdigit() \
            and len(values["organization_id"]) < 10 else 0
        try:
            if org_id not in administered:
                raise ValidationFailed({"organization_id":
                                        "must be an organization of your part of the tree"})
            invited = await invite(session, clock(request), account, email=values["email"],
                                   name=values["name"], organization_id=org_id,
                                   role=values["role"], locale=values["locale"] or lang)
        except ValidationFailed as exc:
            errors = {k: reason_text(lang, v) for k, v in exc.fields.items()}
            await session.rollback()
            return await _again(request, values, errors)
        org = await session.get(Organization, org_id)
        assert org is not None
        await session.commit()
    if has_password(invited):
        return redirect("/people?sent=role")
    sent = await _send_invitation(request, account, invited, org, values["role"])
    return redirect("/people?sent=" + ("invitation" if sent else "failed"))


async def _again(request: Request, values: dict[str, str], errors: dict[str, str], *,
                 status_code: int = 422) -> Response:
    async with db(request) as session:
        account, administered = await require_admin(request, session)
        rows = await people(session, account)
        orgs = [o for o in await all_organizations(session) if o.id in administered]
    return render(request, "pages/people.html", {
        "people": [(p, has_password(p.account)) for p in rows], "orgs": orgs,
        "me": account.id, "form": values, "errors": errors,
        "sent": request.query_params.get("sent")}, status_code=status_code)


async def resend(request: Request) -> Response:
    await read_form(request)
    async with db(request) as session:
        account = await require_account(request, session)  # a missing row is 404 first
        invited = await renew_invitation(session, account, request.path_params["id"])
        orgs = {o.id: o for o in await all_organizations(session)}
        role = invited.roles[0]
        await session.commit()
    sent = await _send_invitation(request, account, invited, orgs[role.organization_id],
                                  role.role)
    return redirect("/people?sent=" + ("invitation" if sent else "failed"))


async def role_change(request: Request) -> Response:
    form = await read_form(request)
    async with db(request) as session:
        account = await require_account(request, session)
        await change_role(session, account, request.path_params["id"],
                          str(form.get("role") or "")[:20])
        await session.commit()
    return redirect("/people")


async def role_remove(request: Request) -> Response:
    await read_form(request)
    async with db(request) as session:
        account = await require_account(request, session)
        await remove_role(session, account, request.path_params["id"])
        await session.commit()
    return redirect("/people")


# --- links that set a password, and "forgot password" ------------------------------------

async def setup_page(request: Request) -> Response:
    async with db(request) as session:
        account = await account_for_link(session, runtime(request).config.secret_key,
                                          request.path_params["token"], clock(request).now())
    if account is None:
        return private_headers(render(request, "pages/setup.html", {"invalid": True},
                                      status_code=404))
    return private_headers(render(request, "pages/setup.html", {"email": account.email}))


async def setup(request: Request) -> Response:
    form = await read_form(request)
    lang = locale(request)
    async with db(request) as session:
        account = await account_for_link(session, runtime(request).config.secret_key,
                                          request.path_params["token"], clock(request).now())
        if account is None:
            return render(request, "pages/setup.html", {"invalid": True}, status_code=404)
        try:
            session_id = await set_password(session, clock(request), account,
                                            str(form.get("new_password") or "")[:1001])
        except ValidationFailed as exc:
            return render(request, "pages/setup.html", {
                "email": account.email,
                "errors": {k: reason_text(lang, v) for k, v in exc.fields.items()}},
                status_code=422)
        await session.commit()
    request.session.clear()
    request.session[SESSION_ID] = session_id
    request.session["locale"] = account.locale
    return redirect("/dashboard")


async def forgot_page(request: Request) -> Response:
    return render(request, "pages/forgot.html", {})


async def forgot(request: Request) -> Response:
    form = await read_form(request)
    email = str(form.get("email") or "")[:254]
    rt = runtime(request)
    async with db(request) as session:
        try:
            account = await forgotten(session, rt.clock, email, client_address(request))
        except DomainError:
            await session.commit()  # the attempt counts
            raise
        await session.commit()
    if account is not None:
        now = rt.clock.now()
        expires_at = now + RESET_LIFETIME
        orgs = {o.id: o for o in await _orgs(request)}
        zone = orgs[account.roles[0].organization_id].timezone
        mail = password_reset_notice(rt.config, to=account.email, locale=account.locale,
                                     link=_link(request, account, expires_at),
                                     expires=format_when(expires_at, zone, account.locale),
                                     now=now)
        try:
            await rt.mailer.send(mail)
        except MailError as exc:  # the same answer: asking again sends a new link
            log.warning("a password reset link could not be sent: %s", exc.reason)
    return render(request, "pages/forgot.html", {"asked": True})


async def _orgs(request: Request) -> list[Organization]:
    async with db(request) as session:
        return await all_organizations(session)


routes = [
    route("/people", GET=people_page),
    route("/people/invite", POST=invite_person),
    route("/people/{id:id}/resend", POST=resend),
    route("/roles/{id:id}/role", POST=role_change),
    route("/roles/{id:id}/remove", POST=role_remove),
    route("/account/setup/{token:key}", GET=setup_page, POST=setup),
    route("/password/forgot", GET=forgot_page, POST=forgot),
]
