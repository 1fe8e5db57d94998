"""Placeholder: the Jitsi token adapters are being written."""

from __future__ import annotations

from typing import Any

from .base import NotSupported
from .http import AdapterContext


class JitsiTokenAdapter:
    name = "jitsi_jwt"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def __getattr__(self, item: str) -> Any:
        raise NotSupported("not implemented yet")


class JaasAdapter(JitsiTokenAdapter):
    name = "jaas"
