"""Rendered public pages kept for a moment, per process.

A federal announcement sends thousands of people to one event page within minutes; rendering
it once per visitor costs a database read and a template each time. A page is kept for
`PAGE_CACHE_SECONDS` (one by default), under what it shows (the event, the language, the
reader's zone), so every process shows a change within that time without asking anything of
the others, and a burst is served from memory. Only pages with nothing personal in them are
kept: signed-in visitors are never served from here, and the public form carries no
per-visitor token (its cross-site check is the request's origin).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

#: (public id, language, the browser's zone or "") of an event page.
Key = tuple[str, str, str]


class PageCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._pages: OrderedDict[Key, tuple[datetime, bytes]] = OrderedDict()
        self._flights: dict[Key, asyncio.Task[bytes]] = {}

    async def render_once(self, key: Key, now: datetime,
                          render: Callable[[], Awaitable[bytes]]) -> bytes:
        """The page rendered by `render`, shared by every request that asks while it renders:
        when a kept page expires under a crowd, one render serves them all instead of each
        queueing for a database connection. A visitor who leaves does not stop it."""
        flight = self._flights.get(key)
        if flight is None:
            async def run() -> bytes:
                return await render()

            flight = asyncio.create_task(run())
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, now, done))
        return await asyncio.shield(flight)

    def _landed(self, key: Key, now: datetime, flight: asyncio.Task[bytes]) -> None:
        if self._flights.get(key) is not flight:
            return  # forgotten while it rendered: it may show what was changed since
        del self._flights[key]
        if not flight.cancelled() and flight.exception() is None:
            self.put(key, now, flight.result())

    def get(self, key: Key, now: datetime, ttl: float) -> bytes | None:
        kept = self._pages.get(key)
        if kept is None:
            return None
        if now - kept[0] >= timedelta(seconds=ttl) or now < kept[0]:
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return kept[1]

    def put(self, key: Key, now: datetime, body: bytes) -> None:
        self._pages[key] = (now, body)
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)

    def forget(self, public_id: str) -> None:
        """Drop an event's pages (this process changed it: it shows the change at once)."""
        for key in [k for k in self._pages if k[0] == public_id]:
            del self._pages[key]
        for key in [k for k in self._flights if k[0] == public_id]:
            del self._flights[key]
