"""Stylesheets and scripts, served from `webinars/static/` at /static.

The Content-Security-Policy allows no inline CSS or JavaScript, so pages link these files.
A page links `/static/<name>?v=<digest of the bytes>`: that address may be cached for a year,
and a new release changes it, so every browser gets the new file at once.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: For a versioned address whose version is the file's current one.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Otherwise (no version, or another release's): use it, but ask first (ETag), and never keep
#: one release's bytes under another's address while two releases serve side by side.
REVALIDATE = "no-cache"


@lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def digest(path: str | os.PathLike[str]) -> str:
    """The version of a file's bytes (recomputed only when the file changes on disk)."""
    stat = os.stat(path)
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


def static_url(name: str) -> str:
    """The address a page links to: `static_url("site.css")` -> `/static/site.css?v=…`."""
    return f"/static/{name}?v={digest(STATIC_DIR / name)}"


class StaticAssets(StaticFiles):
    """Starlette's StaticFiles over STATIC_DIR, with a Cache-Control that follows `?v=`."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        version = QueryParams(scope["query_string"]).get("v")
        current = version is not None and version == digest(full_path)
        response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
        return response
