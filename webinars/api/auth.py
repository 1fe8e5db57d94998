"""Bearer tokens: who is calling, and one session for the request.

The token is never logged or echoed; a missing, unknown or revoked one gets the same 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..accounts import account_for_token
from ..errors import Conflict
from ..models import Account
from ..requests import runtime

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: Request, session: AsyncSession) -> Account:
    """The token's account; the use is recorded at once, in its own short transaction."""
    token = bearer_token(request)
    if token is None:
        raise HTTPException(401, "send an API token as 'Authorization: Bearer <token>'",
                            headers=CHALLENGE)
    account = await account_for_token(session, runtime(request).clock, token)
    if account is None:
        await session.rollback()
        raise HTTPException(401, "the API token is unknown or revoked", headers=CHALLENGE)
    await session.commit()  # last_used_at
    return account


@asynccontextmanager
async def authorized(request: Request) -> AsyncIterator[tuple[AsyncSession, Account]]:
    """A session and the calling account. A constraint that loses a race becomes a 409."""
    async with runtime(request).sessionmaker() as session:
        account = await authenticate(request, session)
        try:
            yield session, account
        except IntegrityError as exc:
            await session.rollback()
            raise Conflict("the change collided with another one; try again", "conflict") from exc
