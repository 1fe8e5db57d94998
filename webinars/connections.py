"""Which adapter serves a webinar: the registry's factory, fed this process's shared HTTP
session and token cache, and (for platforms that need them) the organization's credentials."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from integrations.base import Adapter
from integrations.http import AdapterContext, PlatformHttp, TokenCache
from integrations.registry import PLATFORMS

from .config import AppConfig


def endpoints_of(config: AppConfig, platform: str) -> Mapping[str, str]:
    if platform == "jitsi":
        return {"base": config.jitsi_base_url}
    return {}


def preset_adapters(config: AppConfig, session: aiohttp.ClientSession,
                    tokens: TokenCache) -> dict[str, Adapter]:
    """Adapters of the platforms that need no organization's credentials (public Jitsi,
    pasted links), built once per process."""
    adapters: dict[str, Adapter] = {}
    for name, platform in PLATFORMS.items():
        if platform.factory is not None and not platform.fields:
            adapters[name] = platform.factory(AdapterContext(
                http=PlatformHttp(session, name, tokens=tokens), credentials={},
                endpoints=endpoints_of(config, name), secret=config.secret_key))
    return adapters
