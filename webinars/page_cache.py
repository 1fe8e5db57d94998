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
import gzip
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

#: What a page shows, most general first: (the event's public id, language, the browser's
#: zone or ""). `forget` drops every key that starts with the given first part.
Key = tuple[str, ...]

#: Below this a compressed page saves less than its gzip frame costs (as GZipMiddleware's).
GZIP_MINIMUM = 1000


class Page:
    """A rendered body, and its gzip made once, the first time a browser asks for it: a crowd
    of browsers would otherwise have the middleware compress the same page for each of them."""

    __slots__ = ("_gzipped", "at", "body")

    def __init__(self, at: datetime, body: bytes) -> None:
        self.at = at
        self.body = body
        self._gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped

    def answer(self, accepts_gzip: bool) -> tuple[bytes, dict[str, str]]:
        """The body to send and its headers: compressed for a browser that takes gzip (an
        uncompressed one is marked `Vary: Accept-Encoding` by the compression layer)."""
        if accepts_gzip and len(self.body) >= GZIP_MINIMUM:
            return self.gzipped(), {"Cache-Control": "no-store", "Vary": "Accept-Encoding",
                                    "Content-Encoding": "gzip"}
        return self.body, {"Cache-Control": "no-store"}


class PageCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._pages: OrderedDict[Key, Page] = OrderedDict()
        self._flights: dict[Key, asyncio.Task[Page]] = {}

    async def serve(self, key: Key, now: datetime, ttl: float,
                    render: Callable[[], Awaitable[bytes]]) -> Page:
        """The kept page if it is younger than `ttl`, else one rendered now.

        One render serves every request that asks while it runs: when a page expires under a
        crowd they wait for it together instead of each taking a database connection. Past
        half its time, a kept page is still served while the next one renders in the
        background, so a crowd never waits at all; a page is never older than `ttl`, counted
        from when its render began. A visitor who leaves does not stop a render."""
        page = self.get(key, now, ttl)
        if page is not None:
            if now - page.at >= timedelta(seconds=ttl / 2) and key not in self._flights:
                self._start(key, now, render)
            return page
        flight = self._flights.get(key) or self._start(key, now, render)
        return await asyncio.shield(flight)

    def _start(self, key: Key, now: datetime,
               render: Callable[[], Awaitable[bytes]]) -> asyncio.Task[Page]:
        async def run() -> Page:
            return Page(now, await render())

        flight = self._flights[key] = asyncio.create_task(run())
        flight.add_done_callback(lambda done: self._landed(key, done))
        return flight

    async def settled(self) -> None:
        """Wait for the renders under way (a test's way to see a background refresh land)."""
        await asyncio.gather(*self._flights.values(), return_exceptions=True)

    def _landed(self, key: Key, flight: asyncio.Task[Page]) -> None:
        if self._flights.get(key) is not flight:
            return  # forgotten while it rendered: it may show what was changed since
        del self._flights[key]
        if flight.cancelled():
            return
        if flight.exception() is None:
            self._keep(key, flight.result())

    def get(self, key: Key, now: datetime, ttl: float) -> Page | None:
        page = self._pages.get(key)
        if page is None:
            return None
        if now - page.at >= timedelta(seconds=ttl) or now < page.at:
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return page

    def fresh(self, key: Key, now: datetime, ttl: float) -> Page | None:
        """The kept page if it is younger than half `ttl`: one that needs no renewing yet."""
        page = self._pages.get(key)
        if page is None or not timedelta(0) <= now - page.at < timedelta(seconds=ttl / 2):
            return None
        return page

    def _keep(self, key: Key, page: Page) -> None:
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)

    def forget(self, subject: str) -> None:
        """Drop every page of `subject` (this process changed it: it shows the change at once)."""
        for key in [k for k in self._pages if k[0] == subject]:
            del self._pages[key]
        for key in [k for k in self._flights if k[0] == subject]:
            del self._flights[key]
