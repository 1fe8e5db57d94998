"""Placeholder: the google_meet adapter is being written."""

from __future__ import annotations

from typing import Any

from .base import NotSupported
from .http import AdapterContext


class GoogleMeetAdapter:
    name = "google_meet"
    link_kind = "dynamic"

    def __init__(self, ctx: AdapterContext) -> None:
        self.ctx = ctx

    def __getattr__(self, item: str) -> Any:
        raise NotSupported("google_meet is not implemented yet")
