"""Placeholder: the zoom adapter is being written."""

from __future__ import annotations

from typing import Any

from .base import NotSupported
from .http import AdapterContext


class ZoomAdapter:
    name = "zoom"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def __getattr__(self, item: str) -> Any:
        raise NotSupported("zoom is not implemented yet")
