"""Route tables: one `Route` per path, and ids in paths that can only name a real row.

`route(path, GET=..., POST=...)` builds a single route that dispatches on the method, so a
method the path does not serve gets 405 with every method it does serve in `Allow` (two
`Route`s for one path would answer with the first one's methods only).

`{name:id}` accepts a database id, 1..2**31-1 in decimal digits. Anything else cannot name a
row: letters, signs and empty ids simply do not match the route, and digits out of range raise
404 while routing, before a handler or the database sees them (PostgreSQL refuses integers
past its `integer` type, SQLite past 64 bits, and both would surface as a 500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: The largest id a row can have: the primary keys are 32-bit `integer` columns.
MAX_ID = 2**31 - 1
#: The digits of MAX_ID; a longer id (leading zeros aside) is out of range without parsing it.
_MAX_DIGITS = len(str(MAX_ID))

Endpoint = Callable[[Request], Awaitable[Response]]


class IdConvertor(Convertor[int]):
    """Decimal digits naming a row id; out of range is 404 at once (see the module doc)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        digits = value.lstrip("0")
        # Length first: int() of thousands of digits is slow and Python refuses very long ones.
        if not digits or len(digits) > _MAX_DIGITS or int(digits) > MAX_ID:
            raise HTTPException(404, "Not found")
        return int(digits)

    def to_string(self, value: int) -> str:
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"{value} is not an id")
        return str(value)


# Starlette resolves `{name:id}` through this global table when a route is compiled; every
# module with a route table imports this one, so the name is known before its routes exist.
register_url_convertor("id", IdConvertor())


class KeyConvertor(Convertor[str]):
    """Slugs, public ids and tokens never contain a dot, so `/o/x.ics` falls through to feeds."""

    regex = "[A-Za-z0-9_-]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Starlette resolves `{name:key}` through this global table when the routes below compile.
register_url_convertor("key", KeyConvertor())


def route(path: str, /, **handlers: Endpoint) -> Route:
    """One route for `path` serving each method given, e.g. `route("/x", GET=show, POST=save)`.

    HEAD is served by the GET handler (Starlette adds it); any other method gets 405 with
    `Allow` naming them all.
    """
    if not handlers:
        raise ValueError(f"{path}: no handlers")
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    first = next(iter(handlers.values()))
    return Route(path, dispatch, methods=list(by_method), name=first.__name__)

