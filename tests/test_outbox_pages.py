"""The organizer's view of outgoing mail: the outbox, a webinar's deliveries, resending."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webinars.clock import FixedClock
from webinars.mailer import SmtpMailer
from webinars.models import Delivery, OutboxMessage, Registration, Webinar
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.registrations import cancel
from webinars.runtime import Runtime

from .factories import csrf_from, login, make_account, make_org, make_registration, make_webinar
from .smtp import SmtpServer, check_message, parse


async def two_branches(session: AsyncSession, clock: FixedClock
                       ) -> tuple[Webinar, Webinar, list[Registration]]:
    """A regional organizer (ours) and a sibling region's webinar we must not see."""
    root = await make_org(session, clock, "union")
    ours = await make_org(session, clock, "north", parent=root, level="regional")
    theirs = await make_org(session, clock, "south", parent=root, level="regional")
    me = await make_account(session, clock, ours)
    other = await make_account(session, clock, theirs, email="south@union.example")
    mine = await make_webinar(session, clock, me, ours, title="Северный вебинар")
    foreign = await make_webinar(session, clock, other, theirs, title="Южный вебинар")
    people = [await make_registration(session, clock, mine, email=email, name=name)
              for email, name in (("anna@school.example", "Анна Smirnova"),
                                  ("boris@school.example", "Борис Орлов"))]
    people.append(await make_registration(session, clock, foreign, email="zoe@school.example",
                                          name="Зоя"))
    return mine, foreign, people


async def stored(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessionmaker() as s:
        return list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_outbox_lists_only_messages_of_the_organizers_subtree(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    mine, foreign, _ = await two_branches(session, clock)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    messages = await stored(runtime)
    assert len(messages) == 3
    await login(client)
    page = await client.get("/outbox")
    assert page.status_code == 200
    assert "anna@school.example" in page.text and "boris@school.example" in page.text
    assert "zoe@school.example" not in page.text and "Южный" not in page.text
    assert "Приглашение: Северный вебинар" in page.text
    theirs = next(m for m in messages if m.webinar_id == foreign.id)
    assert (await client.get(f"/outbox/{theirs.id}")).status_code == 403
    assert (await client.get(f"/outbox/{theirs.id}.eml")).status_code == 403
    assert (await client.get("/outbox/999999")).status_code == 404
    assert (await client.get("/outbox?page=abc")).status_code == 400
    assert mine.id != foreign.id


async def test_a_stored_message_shows_subject_recipient_and_text_and_downloads_as_eml(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    mine, _, people = await two_branches(session, clock)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    message = next(m for m in await stored(runtime) if m.recipient == "anna@school.example")
    await login(client)
    page = await client.get(f"/outbox/{message.id}")
    assert page.status_code == 200
    assert "Приглашение: Северный вебинар" in page.text
    assert 'data-field="recipient">anna@school.example' in page.text
    assert f"http://testserver/j/{people[0].join_token}" in page.text  # the text body
    assert "METHOD:REQUEST" in page.text and "invite.ics" in page.text
    raw = await client.get(f"/outbox/{message.id}.eml")
    assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
    assert raw.content == message.raw
    check_message(raw.content, recipient="anna@school.example",
                  mail_from=runtime.config.mail_from,
                  mail_from_name=runtime.config.mail_from_name, independent=False)
    assert mine.title in page.text


async def test_pages_need_a_signed_in_organizer(client: httpx.AsyncClient, runtime: Runtime
                                                ) -> None:
    for path in ("/outbox", "/outbox/1", "/webinars/1/deliveries"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


async def test_deliveries_page_shows_counts_states_and_the_reason_of_a_failure(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue, smtp: SmtpServer,
) -> None:
    runtime.mailer = SmtpMailer.from_url(smtp.url)
    queue.ctx["mailer"] = runtime.mailer
    smtp.reject.add("boris@school.example")
    mine, foreign, people = await two_branches(session, clock)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await login(client)
    page = await client.get(f"/webinars/{mine.id}/deliveries")
    assert page.status_code == 200
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page.text))
    # Two invitations (one sent, one failed) and two reminders each, still pending.
    assert counts == {"pending": "4", "sending": "0", "sent": "1", "failed": "1",
                      "superseded": "0"}
    boris = page.text.split(f'id="registration-{people[1].id}"')[1].split("</tr>")[0]
    assert 'data-kind="invitation" data-status="failed"' in boris
    assert "Причина: recipient refused: 550" in boris and "mailbox unavailable" in boris
    anna = page.text.split(f'id="registration-{people[0].id}"')[1].split("</tr>")[0]
    assert 'data-kind="invitation" data-status="sent"' in anna
    assert "Зоя" not in page.text
    assert (await client.get(f"/webinars/{foreign.id}/deliveries")).status_code == 403
    assert (await client.get(f"/webinars/{mine.id}/deliveries?page=0")).status_code == 400


async def test_resend_writes_a_fresh_invitation_with_a_new_message_id(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession, clock: FixedClock,
    queue: InProcessQueue,
) -> None:
    mine, foreign, people = await two_branches(session, clock)
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    await login(client)
    page = await client.get(f"/webinars/{mine.id}/deliveries")
    token = csrf_from(page.text)
    anna = people[0]
    url = f"/webinars/{mine.id}/deliveries/{anna.id}/resend"
    assert (await client.post(url, data={})).status_code == 403  # no CSRF token: nothing
    response = await client.post(url, data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/webinars/{mine.id}/deliveries?resent=")
    await queue.drain()
    to_anna = [m for m in await stored(runtime) if m.recipient == anna.email]
    assert len(to_anna) == 2
    first, second = (parse(m.raw) for m in to_anna)
    assert first["Message-ID"] != second["Message-ID"]
    async with runtime.sessionmaker() as s:
        invitations = list((await s.scalars(select(Delivery).where(
            Delivery.registration_id == anna.id, Delivery.kind == "invitation"))).all())
    assert [d.status for d in invitations] == ["sent", "sent"]
    shown = await client.get(response.headers["location"])
    assert "Приглашение будет отправлено ещё раз" in shown.text
    # Someone else's webinar, someone else's registration, a cancelled registration.
    zoe_id = people[2].id
    assert (await client.post(f"/webinars/{foreign.id}/deliveries/{zoe_id}/resend",
                              data={"csrf_token": token})).status_code == 403
    assert (await client.post(f"/webinars/{mine.id}/deliveries/{zoe_id}/resend",
                              data={"csrf_token": token})).status_code == 404
    await cancel(session, clock, people[1])
    await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    refused = await client.post(f"/webinars/{mine.id}/deliveries/{people[1].id}/resend",
                                data={"csrf_token": token})
    assert refused.status_code == 409
    assert len([m for m in await stored(runtime) if m.recipient == anna.email]) == 2
