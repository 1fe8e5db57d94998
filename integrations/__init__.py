"""Conferencing platforms behind one adapter interface (see `base.Adapter`)."""

from __future__ import annotations

from .base import Adapter
from .jitsi import JitsiAdapter
from .static import StaticLinkAdapter

#: Platforms an organizer may choose, with how their link is made. Later issues add
#: BigBlueButton, Zoom, Google Meet, Teams, Webex, Telemost and MTS Link adapters here.
PLATFORMS: dict[str, str] = {"jitsi": "dynamic", "static": "static"}


def build_adapters(*, jitsi_base_url: str, secret: str) -> dict[str, Adapter]:
    """The literal registry of adapters, built once per process."""
    return {
        "jitsi": JitsiAdapter(jitsi_base_url, secret),
        "static": StaticLinkAdapter(),
    }
