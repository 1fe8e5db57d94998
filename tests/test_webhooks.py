"""Outbound webhooks: signed (checked by `standardwebhooks` on a real aiohttp receiver),
retried on the Standard Webhooks schedule under one `webhook-id`, recovered by reconcile when
the queue is lost, turned off after the last try with one notice to the owner, and never sent
to an internal address (SSRF)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import select

from webinars import sealing, webhooks
from webinars.clock import FixedClock
from webinars.config import AppConfig
from webinars.models import (
    Account,
    Event,
    OutboxMessage,
    Registration,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from webinars.queue import InProcessQueue, commit_and_enqueue
from webinars.runtime import Runtime
from webinars.states import EventKind
from webinars.webhook_payloads import event_payload
from workers import webhook_http
from workers.dispatch import dispatch
from workers.webhooks import MAX_ATTEMPTS, SCHEDULE, reconcile_webhooks, send_webhook

from .api_support import World
from .factories import make_registration
from .webhook_receiver import Receiver


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return replace(config, webhook_allow_loopback=True)


async def add_endpoint(runtime: Runtime, account: Account, org_id: int, url: str,
                       kinds: list[str] | None = None) -> tuple[int, str]:
    async with runtime.sessionmaker() as session:
        values = webhooks.endpoint_input({"url": url, "kinds": kinds or []},
                                         allow_loopback=runtime.config.webhook_allow_loopback,
                                         partial=False)
        created = await webhooks.create(session, account, org_id, values,
                                        secret_key=runtime.config.secret_key,
                                        now=runtime.clock.now())
        await session.commit()
        return created.endpoint.id, created.secret


#: What the tests below make happen (the meeting events it sets off are not their subject).
WEBINAR_KINDS = ["webinar.changed", "webinar.cancelled"]


async def happen(runtime: Runtime, queue: InProcessQueue, kind: EventKind, *, org_id: int,
                 webinar_id: int | None = None, registration_id: int | None = None,
                 data: dict[str, Any] | None = None) -> int:
    """An event as a service records it, dispatched and its jobs run."""
    async with runtime.sessionmaker() as session:
        event = Event(kind=kind.value, occurred_at=runtime.clock.now(), organization_id=org_id,
                      webinar_id=webinar_id, registration_id=registration_id, data=data or {},
                      dispatch_attempts=0)
        session.add(event)
        await session.commit()
        event_id = event.id
    await dispatch(queue.ctx, event_id)  # type: ignore[arg-type]
    await queue.drain()
    return event_id


async def messages(runtime: Runtime) -> list[WebhookMessage]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(WebhookMessage)
                                           .order_by(WebhookMessage.id))).all())


async def endpoint(runtime: Runtime, endpoint_id: int) -> WebhookEndpoint:
    async with runtime.sessionmaker() as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


async def test_events_arrive_signed_for_standardwebhooks_with_ids_and_changed_fields(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver) -> None:
    endpoint_id, receiver.secret = await add_endpoint(runtime, world.north_account,
                                                      world.north.id, receiver.url,
                                                      kinds=["webinar.changed"])
    assert receiver.secret.startswith("whsec_")
    webinar = world.city_webinar  # below north: inherited
    changed = {"title": {"old": "City contest", "new": "City contest 2"}}
    event_id = await happen(runtime, queue, EventKind.WEBINAR_CHANGED,
                            org_id=webinar.organization_id, webinar_id=webinar.id,
                            data={"changed": changed})
    [payload] = receiver.verified()
    assert payload["type"] == "webinar.changed"
    assert payload["data"]["event_id"] == event_id
    assert payload["data"]["changed"] == changed
    assert payload["data"]["webinar"]["public_id"] == webinar.public_id
    assert payload["data"]["webinar"]["organization_id"] == world.north_city.id
    [message] = await messages(runtime)
    assert (message.status, message.attempts, message.msg_id) == (
        "sent", 1, receiver.received[0].msg_id)
    assert receiver.received[0].headers["Content-Type"] == "application/json"
    assert receiver.received[0].body == message.payload.encode()
    # The secret is sealed at rest.
    stored = await endpoint(runtime, endpoint_id)
    assert receiver.secret not in stored.secret_sealed
    assert sealing.unseal(runtime.config.secret_key, "webhook-secret",
                          stored.secret_sealed) == receiver.secret


async def test_kinds_filter_and_subtree_decide_who_gets_an_event(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver) -> None:
    south, _ = await add_endpoint(runtime, world.south_account, world.south.id, receiver.url)
    north, _ = await add_endpoint(runtime, world.north_account, world.north.id, receiver.url,
                                  kinds=["webinar.cancelled"])
    union, _ = await add_endpoint(runtime, world.admin, world.union.id, receiver.url,
                                  kinds=WEBINAR_KINDS)
    w = world.north_webinar
    await happen(runtime, queue, EventKind.WEBINAR_CHANGED, org_id=w.organization_id,
                 webinar_id=w.id)
    await happen(runtime, queue, EventKind.WEBINAR_CANCELLED, org_id=w.organization_id,
                 webinar_id=w.id)
    sent = {(m.endpoint_id, m.kind) for m in await messages(runtime)}
    # south gets nothing of north; north only what it asked for; the union both.
    assert sent == {(north, "webinar.cancelled"), (union, "webinar.changed"),
                    (union, "webinar.cancelled")}
    assert south not in {e for e, _ in sent}
    assert len(receiver.received) == 3


async def test_names_and_emails_only_to_the_managing_chain_and_never_tokens(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver,
        clock: FixedClock) -> None:
    async with runtime.sessionmaker() as session:
        registration = await make_registration(session, clock, world.north_webinar,
                                               email="anna@school.example")
        await commit_and_enqueue(session, queue, clock)
        registration = await session.get(Registration, registration.id)  # type: ignore[assignment]
    await queue.drain()
    assert registration is not None
    _, receiver.secret = await add_endpoint(runtime, world.admin, world.union.id, receiver.url)
    await happen(runtime, queue, EventKind.REGISTRATION_CONFIRMED,
                 org_id=world.north.id, webinar_id=world.north_webinar.id,
                 registration_id=registration.id,
                 data={"token": registration.token, "email": registration.email})
    [payload] = receiver.verified()
    body = receiver.received[0].body.decode()
    assert payload["data"]["registration"]["email"] == "anna@school.example"
    assert registration.token not in body and registration.join_token not in body
    # An endpoint outside the chain (the subtree rule never sends it one; built by hand):
    # ids only.
    outside = event_payload("registration.confirmed", clock.now(), event_id=1,
                            organization_id=world.north.id,
                            data={"token": registration.token, "email": registration.email,
                                  "changed": {"name": {"old": "a", "new": "b"}}},
                            webinar=world.north_webinar, registration=registration,
                            personal=False, base_url="http://testserver")
    text = json.dumps(outside, ensure_ascii=False)
    assert registration.token not in text and "anna@school.example" not in text
    assert "Мария" not in text and registration.join_token not in text
    assert outside["data"]["registration"] == {
        "id": registration.id, "status": "confirmed",
        "organization_id": registration.organization_id}


async def run_for(runtime: Runtime, queue: InProcessQueue, clock: FixedClock,
                  span: timedelta, step: timedelta, *, lose_queue_at: int | None = None) -> None:
    """Let time pass as a worker would see it: jobs that fall due, and reconcile every step."""
    steps = int(span / step)
    for n in range(steps):
        clock.advance(step)
        if n == lose_queue_at:  # Redis flushed: every deferred job is gone
            queue.deferred.clear()
        await queue.drain()
        await reconcile_webhooks(queue.ctx)  # type: ignore[arg-type]
        await queue.drain()


async def test_an_endpoint_down_for_an_hour_gets_every_event_once_under_one_id(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver,
        clock: FixedClock) -> None:
    _, receiver.secret = await add_endpoint(runtime, world.north_account, world.north.id,
                                            receiver.url, kinds=WEBINAR_KINDS)
    receiver.status = 503
    w = world.north_webinar
    for kind in (EventKind.WEBINAR_CHANGED, EventKind.WEBINAR_CANCELLED):
        await happen(runtime, queue, kind, org_id=w.organization_id, webinar_id=w.id)
    port = receiver.port
    await receiver.stop()  # and now it refuses connections too
    await run_for(runtime, queue, clock, timedelta(minutes=30), timedelta(seconds=30),
                  lose_queue_at=3)
    receiver.port = port
    await receiver.start()
    await run_for(runtime, queue, clock, timedelta(minutes=30), timedelta(minutes=1))
    receiver.status = 200
    await run_for(runtime, queue, clock, timedelta(hours=3), timedelta(minutes=2),
                  lose_queue_at=10)
    rows = await messages(runtime)
    assert [m.status for m in rows] == ["sent", "sent"]
    ok = [r for r in receiver.received if r.msg_id in {m.msg_id for m in rows}]
    assert {r.msg_id for r in ok} == {m.msg_id for m in rows}
    assert len(receiver.received) >= 4  # retried while it answered 503
    assert all(r.msg_id in {m.msg_id for m in rows} for r in receiver.received)
    receiver.verified()  # every try, failed ones too, was signed correctly
    async with runtime.sessionmaker() as session:
        attempts = list((await session.scalars(select(WebhookAttempt))).all())
        ep = await session.get(WebhookEndpoint, rows[0].endpoint_id)
    assert any("cannot connect" in (a.error or "") for a in attempts)
    assert any(a.status_code == 503 for a in attempts)
    assert sum(a.succeeded for a in attempts) == 2
    assert ep is not None and ep.enabled and ep.failing_since is None


async def test_the_last_failed_try_turns_the_endpoint_off_and_tells_its_owner_once(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver,
        clock: FixedClock) -> None:
    endpoint_id, receiver.secret = await add_endpoint(runtime, world.north_account,
                                                      world.north.id, receiver.url,
                                                      kinds=WEBINAR_KINDS)
    receiver.status = 500
    w = world.north_webinar
    await happen(runtime, queue, EventKind.WEBINAR_CHANGED, org_id=w.organization_id,
                 webinar_id=w.id)
    clock.advance(timedelta(minutes=20))  # a second event, whose last try comes later
    await happen(runtime, queue, EventKind.WEBINAR_CANCELLED, org_id=w.organization_id,
                 webinar_id=w.id)
    total = sum(SCHEDULE, timedelta()) + timedelta(hours=1)
    await run_for(runtime, queue, clock, total, timedelta(minutes=15))
    first, second = await messages(runtime)
    assert (first.status, first.attempts) == ("failed", MAX_ATTEMPTS)
    assert [r.msg_id for r in receiver.received].count(first.msg_id) == MAX_ATTEMPTS
    ep = await endpoint(runtime, endpoint_id)
    assert not ep.enabled and ep.disabled_at is not None and ep.owner_notified_at is not None
    assert "500" in (ep.disabled_reason or "")
    # The second waits while the endpoint is off; turning it on sends it.
    assert (second.status, second.attempts) == ("pending", MAX_ATTEMPTS - 1)
    assert len(receiver.received) == 2 * MAX_ATTEMPTS - 1
    async with runtime.sessionmaker() as session:
        notices = list((await session.scalars(select(OutboxMessage))).all())
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        receiver.status = 200
        await webhooks.change(session, found, {"enabled": True}, clock.now())
        await commit_and_enqueue(session, queue, clock)
    await queue.drain()
    assert [m.status for m in await messages(runtime)] == ["failed", "sent"]
    assert receiver.received[-1].msg_id == second.msg_id
    assert receiver.received[-1].json["type"] == "webinar.cancelled"
    mine = [n for n in notices if n.recipient == "north@union.example"]
    assert len(mine) == 1
    assert "вебхук" in mine[0].subject.lower() or "webhook" in mine[0].subject.lower()
    assert receiver.secret.encode() not in mine[0].raw


async def test_a_notice_that_could_not_be_sent_is_retried_by_reconcile(
        runtime: Runtime, world: World, queue: InProcessQueue, clock: FixedClock) -> None:
    endpoint_id, _ = await add_endpoint(runtime, world.north_account, world.north.id,
                                        "https://hooks.example/x")
    async with runtime.sessionmaker() as session:
        ep = await session.get(WebhookEndpoint, endpoint_id)
        assert ep is not None
        ep.enabled, ep.disabled_at, ep.disabled_reason = False, clock.now(), "kept failing"
        await session.commit()

    class Broken:
        concurrency = 1

        async def send(self, mail: Any, before_data: Any = None) -> None:
            raise OSError("smtp down")

        async def close(self) -> None:
            return None

    ctx = {**queue.ctx, "mailer": Broken()}
    assert (await reconcile_webhooks(ctx))["webhook_owners_told"] == 0  # type: ignore[arg-type]
    assert (await endpoint(runtime, endpoint_id)).owner_notified_at is None
    assert (await reconcile_webhooks(queue.ctx))["webhook_owners_told"] == 1  # type: ignore[arg-type]
    assert (await reconcile_webhooks(queue.ctx))["webhook_owners_told"] == 0  # type: ignore[arg-type]


async def test_a_message_stuck_in_sending_is_reclaimed_and_sent_under_the_same_id(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver,
        clock: FixedClock) -> None:
    _, receiver.secret = await add_endpoint(runtime, world.north_account, world.north.id,
                                            receiver.url)
    async with runtime.sessionmaker() as session:
        ep = (await session.scalars(select(WebhookEndpoint))).one()
        message = await webhooks.ping(session, ep, clock.now())
        message.status = "sending"  # a worker claimed it and died
        message.lease_until = clock.now() + timedelta(minutes=2)
        await session.commit()  # no job queued
        msg_id = message.msg_id
    clock.advance(timedelta(minutes=3))
    await reconcile_webhooks(queue.ctx)  # type: ignore[arg-type]
    await queue.drain()
    [got] = receiver.received
    assert got.msg_id == msg_id
    assert receiver.verified()[0]["type"] == "webhook.ping"


class FakeDns(AbstractResolver):
    """A name server that answers every name with `address`."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[ResolveResult]:
        family = 10 if ":" in self.address else 2
        return [{"hostname": host, "host": self.address, "port": port, "family": family,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1",
                                     "::ffff:10.0.0.1", "192.168.0.1", "0.0.0.0", "224.0.0.1",
                                     "fd00::1", "fe80::1", "100.64.0.1"])
async def test_names_resolving_to_internal_addresses_are_refused_at_send_time(
        address: str) -> None:
    answer = await webhook_http.post("https://hooks.example/x", b"{}", {},
                                     allow_loopback=False, resolver=FakeDns(address))
    assert not answer.ok and answer.status_code is None
    assert answer.error is not None and "refused" in answer.error and address in answer.error


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "https://10.0.0.1/x",
                                 "https://[::1]/x", "https://169.254.169.254/latest",
                                 "https://[::ffff:127.0.0.1]/x", "http://localhost:9/x"])
async def test_internal_address_literals_are_refused_without_connecting(url: str) -> None:
    answer = await webhook_http.post(url, b"{}", {}, allow_loopback=False)
    assert not answer.ok and answer.error is not None and "refused" in answer.error


async def test_loopback_refused_at_send_time_when_the_setting_is_off(
        runtime: Runtime, world: World, queue: InProcessQueue, receiver: Receiver) -> None:
    await add_endpoint(runtime, world.north_account, world.north.id, receiver.url)
    queue.ctx["config"] = replace(runtime.config, webhook_allow_loopback=False)
    w = world.north_webinar
    await happen(runtime, queue, EventKind.WEBINAR_CHANGED, org_id=w.organization_id,
                 webinar_id=w.id)
    assert receiver.received == []
    [message] = await messages(runtime)
    assert message.status == "pending" and "loopback" in (message.last_error or "")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example/x", "https"),
    ("ftp://hooks.example/x", "https"),
    ("https://user:pw@hooks.example/x", "password"),
    ("https://10.0.0.5/x", "private"),
    ("https://" + "a" * 2000 + ".example/", "at most"),
    ("not a url", "spaces"),
    ("", "required"),
])
def test_endpoint_urls_are_checked_when_added(url: str, reason: str) -> None:
    with pytest.raises(webhooks.ValidationFailed) as caught:
        webhooks.endpoint_input({"url": url}, allow_loopback=False, partial=False)
    assert reason in caught.value.fields["url"]


def test_loopback_is_refused_when_added_unless_the_setting_allows_it() -> None:
    for url in ("http://127.0.0.1:8000/x", "https://localhost/x"):
        with pytest.raises(webhooks.ValidationFailed):
            webhooks.endpoint_input({"url": url}, allow_loopback=False, partial=False)
        assert webhooks.endpoint_input({"url": url}, allow_loopback=True,
                                       partial=False)["url"] == url


async def test_send_job_twice_sends_once(runtime: Runtime, world: World,
                                         queue: InProcessQueue, receiver: Receiver,
                                         clock: FixedClock) -> None:
    await add_endpoint(runtime, world.north_account, world.north.id, receiver.url)
    async with runtime.sessionmaker() as session:
        ep = (await session.scalars(select(WebhookEndpoint))).one()
        message = await webhooks.ping(session, ep, clock.now())
        await session.commit()
    await send_webhook(queue.ctx, message.id)  # type: ignore[arg-type]
    await send_webhook(queue.ctx, message.id)  # type: ignore[arg-type]
    assert len(receiver.received) == 1


async def test_the_suite_asks_no_dns_server_for_an_endpoints_name(
        runtime: Runtime, world: World, queue: InProcessQueue) -> None:
    """An endpoint on a public name (as the API fuzzer makes them) fails its try here, with the
    reason, instead of a DNS query leaving the machine."""
    endpoint_id, _ = await add_endpoint(runtime, world.north_account, world.north.id,
                                        "https://crm.example.org/hooks")
    async with runtime.sessionmaker() as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        await webhooks.ping(session, found, runtime.clock.now())
        await commit_and_enqueue(session, queue, runtime.clock)
    await queue.drain()
    async with runtime.sessionmaker() as session:
        [attempt] = (await session.scalars(select(WebhookAttempt))).all()
    assert not attempt.succeeded
    assert "resolve no names but localhost (crm.example.org)" in (attempt.error or "")
