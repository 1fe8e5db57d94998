"""Placeholder: the mts_link adapter is being written."""

from __future__ import annotations

from typing import Any

from .base import NotSupported
from .http import AdapterContext


class MtsLinkAdapter:
    name = "mts_link"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def __getattr__(self, item: str) -> Any:
        raise NotSupported("mts_link is not implemented yet")
