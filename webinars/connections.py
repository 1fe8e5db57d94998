"""Organizations' accounts on conferencing platforms, and which adapter serves a webinar.

A connection belongs to one organization and serves its whole subtree unless a suborganization
connects its own (the nearest one up the tree wins). Its credentials are one JSON object sealed
with MultiFernet under CREDENTIALS_KEY — not SECRET_KEY, so either can be rotated — and are
never shown back in full: `hints` keeps what a page may show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.base import Adapter, ConferencingError, PlatformUnavailable
from integrations.registry import PLATFORMS, Platform, TokenCache, make_adapter

from .clock import Clock
from .config import AppConfig
from .errors import NotFound, ValidationFailed
from .models import Account, PlatformConnection
from .organizations import all_organizations, chain, require_manage
from .sealing import fernet
from .security import hash_token, new_token
from .states import ConnectionStatus

#: Where the callback key lives inside the sealed credentials (no form field has this name).
HOOK_KEY = "_hook_key"
MASK = "••••"


class CredentialsUnavailable(Exception):
    """No CREDENTIALS_KEY is set, or the sealed credentials were made under another key."""



def _keys(config: AppConfig) -> MultiFernet:
    if not config.credentials_keys:
        raise CredentialsUnavailable(
            "CREDENTIALS_KEY is not set: platform credentials cannot be stored")
    return MultiFernet([fernet(key, "platform-credentials")
                        for key in config.credentials_keys])


def seal_credentials(config: AppConfig, values: Mapping[str, str]) -> str:
    return _keys(config).encrypt(json.dumps(dict(values)).encode()).decode("ascii")


def open_credentials(config: AppConfig, sealed: str) -> dict[str, str]:
    try:
        values: dict[str, str] = json.loads(_keys(config).decrypt(sealed.encode("ascii")))
    except (InvalidToken, ValueError) as exc:
        raise CredentialsUnavailable(
            "the stored credentials cannot be opened with CREDENTIALS_KEY (was it replaced "
            "without keeping the old key?); enter them again") from exc
    return values


def rotate(config: AppConfig, sealed: str) -> str:
    """Sealed again under the first key (after a new key was put in front)."""
    return _keys(config).rotate(sealed.encode("ascii")).decode("ascii")


def hint(value: str) -> str:
    """What a page may show of a secret: enough to recognise it, never to use it."""
    return f"{MASK}{value[-4:]}" if len(value) >= 16 else MASK


LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$")


def check_fields(platform: Platform, data: Mapping[str, Any],
                 previous: Mapping[str, str] | None) -> dict[str, str]:
    """Validate what the organizer entered against the platform's schema. A secret left
    empty keeps the stored one, so editing a connection never needs the secrets again."""
    errors: dict[str, str] = {}
    known = {f.name for f in platform.fields}
    for name in sorted(set(data) - known):
        errors[name] = "is not a known field"
    values: dict[str, str] = {}
    for f in platform.fields:
        raw = data.get(f.name)
        if raw is not None and not isinstance(raw, str):
            errors[f.name] = "must be a string"
            continue
        value = (raw or "").strip() if f.kind != "textarea" else (raw or "").strip("\n ")
        if not value and f.secret and previous and previous.get(f.name):
            value = previous[f.name]
        if not value:
            value = f.default
        if not value:
            if f.required:
                errors[f.name] = "is required"
            continue
        if len(value) > f.max_length:
            errors[f.name] = f"is longer than {f.max_length} characters"
        elif f.kind == "choice" and value not in f.choices:
            errors[f.name] = f"must be one of {', '.join(f.choices)}"
        elif f.kind == "url":
            parts = urlsplit(value)
            local = LOOPBACK.match(parts.hostname or "") is not None
            if not parts.hostname or not (parts.scheme == "https"
                                          or parts.scheme == "http" and local):
                errors[f.name] = "must be an https:// address"
        elif "\x00" in value:
            errors[f.name] = "must not contain NUL characters"
        values[f.name] = value
    if errors:
        raise ValidationFailed(errors)
    return values


async def connection_for(session: AsyncSession, organization_id: int,
                         platform: str) -> PlatformConnection | None:
    """The connection that serves `organization_id`: its own, else the nearest above."""
    orgs = await all_organizations(session)
    ids = [org.id for org in chain(orgs, organization_id)]
    rows = {c.organization_id: c for c in await session.scalars(
        select(PlatformConnection).where(PlatformConnection.organization_id.in_(ids),
                                         PlatformConnection.platform == platform))}
    return next((rows[i] for i in ids if i in rows), None)


async def save_connection(session: AsyncSession, config: AppConfig, clock: Clock,
                          account: Account, organization_id: int, platform_name: str,
                          data: Mapping[str, Any]) -> PlatformConnection:
    await require_manage(session, account, organization_id)
    platform = PLATFORMS.get(platform_name)
    if platform is None or not platform.fields:
        raise NotFound("no such platform to connect")
    connection = await session.scalar(select(PlatformConnection).where(
        PlatformConnection.organization_id == organization_id,
        PlatformConnection.platform == platform_name))
    try:
        previous = (open_credentials(config, connection.credentials_sealed)
                    if connection is not None else None)
    except CredentialsUnavailable:
        previous = None  # the secrets must be entered again; check_fields says which
    values = check_fields(platform, data, previous)
    hook_key = (previous or {}).get(HOOK_KEY) or new_token()
    try:
        sealed = seal_credentials(config, {**values, HOOK_KEY: hook_key})
    except CredentialsUnavailable as exc:
        raise ValidationFailed({"credentials": str(exc)}) from None
    now = clock.now()
    hints = {name: hint(value) if name in platform.secret_fields else value
             for name, value in values.items()}
    if connection is None:
        connection = PlatformConnection(organization_id=organization_id,
                                        platform=platform_name, created_at=now)
        session.add(connection)
    connection.credentials_sealed = sealed
    connection.hints = hints
    connection.hook_key_hash = hash_token(hook_key)
    connection.status = ConnectionStatus.UNTESTED
    connection.last_error = None
    connection.broken_notice_at = None
    connection.updated_by_id = account.id
    connection.updated_at = now
    await session.flush()
    return connection


async def delete_connection(session: AsyncSession, account: Account, organization_id: int,
                            platform_name: str) -> None:
    await require_manage(session, account, organization_id)
    await session.execute(delete(PlatformConnection).where(
        PlatformConnection.organization_id == organization_id,
        PlatformConnection.platform == platform_name))


def endpoints_of(config: AppConfig, platform: str) -> Mapping[str, str]:
    if platform == "jitsi":
        return {"base": config.jitsi_base_url}
    return config.platform_endpoints.get(platform, {})


def hook_url(config: AppConfig, platform: str, hook_key: str) -> str:
    return f"{config.base_url}/hooks/{platform}/{hook_key}"


def build_adapter(config: AppConfig, http: aiohttp.ClientSession, tokens: TokenCache,
                  clock: Clock, platform: str,
                  connection: PlatformConnection | None) -> Adapter:
    """The registry's adapter for `platform`, with the connection's credentials."""
    credentials = (open_credentials(config, connection.credentials_sealed)
                   if connection is not None else {})
    key = credentials.pop(HOOK_KEY, None)
    return make_adapter(platform, session=http, tokens=tokens, credentials=credentials,
                        endpoints=endpoints_of(config, platform),
                        hook_url=hook_url(config, platform, key) if key else None,
                        secret=config.secret_key, now=clock.now)


def preset_adapters(config: AppConfig, http: aiohttp.ClientSession,
                    tokens: TokenCache, clock: Clock) -> dict[str, Adapter]:
    """Adapters of the platforms that need no organization's credentials (public Jitsi,
    pasted links), built once per process."""
    return {name: build_adapter(config, http, tokens, clock, name, None)
            for name, platform in PLATFORMS.items()
            if platform.factory is not None and not platform.fields}


async def check_connection(adapter: Adapter, connection: PlatformConnection,
                          clock: Clock) -> None:
    """Ask the platform; record what it says. A platform that does not answer says nothing
    about the credentials, so it leaves the status as it was."""
    try:
        await adapter.check()
    except PlatformUnavailable as exc:
        connection.last_error = str(exc)
    except ConferencingError as exc:
        connection.status = ConnectionStatus.BROKEN
        connection.last_error = str(exc)
    else:
        connection.status = ConnectionStatus.OK
        connection.last_error = None
        connection.broken_notice_at = None
    connection.checked_at = clock.now()


async def connection_by_hook_key(session: AsyncSession, platform: str,
                                 key: str) -> PlatformConnection | None:
    return await session.scalar(select(PlatformConnection).where(
        PlatformConnection.hook_key_hash == hash_token(key),
        PlatformConnection.platform == platform))


async def adapter_for_meeting(session: AsyncSession, *, presets: Mapping[str, Adapter],
                              config: AppConfig, http: aiohttp.ClientSession,
                              tokens: TokenCache, clock: Clock,
                              platform: str, connection_id: int | None) -> Adapter | None:
    """The adapter that made an existing meeting, with the credentials that made it."""
    if platform in presets:
        return presets[platform]
    entry = PLATFORMS.get(platform)
    if entry is None or entry.factory is None or connection_id is None:
        return None
    connection = await session.get(PlatformConnection, connection_id)
    if connection is None:
        return None
    try:
        return build_adapter(config, http, tokens, clock, platform, connection)
    except CredentialsUnavailable:
        return None
