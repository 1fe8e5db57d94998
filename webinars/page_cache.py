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

from collections import OrderedDict
from datetime import datetime, timedelta

#: (public id, language, the browser's zone or "") of an event page.
Key = tuple[str, str, str]


class PageCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._pages: OrderedDict[Key, tuple[datetime, bytes]] = OrderedDict()

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
