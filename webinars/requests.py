"""What every handler, HTML page or JSON endpoint, takes from its request: the process's runtime,
the public address, and commit-then-enqueue."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from .queue import commit_and_enqueue
from .runtime import Runtime


def runtime(request: Request) -> Runtime:
    """The runtime the app serves with (`app.create_app` sets it before the first request)."""
    rt: Runtime = request.app.state.runtime
    return rt


def base_url(request: Request) -> str:
    """The public address links in pages, answers, e-mails and calendars start with."""
    return runtime(request).config.base_url


async def commit(request: Request, session: AsyncSession) -> None:
    """Commit, then enqueue the jobs the change implies."""
    rt = runtime(request)
    assert rt.queue is not None
    await commit_and_enqueue(session, rt.queue, rt.clock)
