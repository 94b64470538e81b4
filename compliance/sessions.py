"""Browser sessions signed out before their cookie expired. A session lives in its
encrypted cookie, not here; signing out records its id so that a copy of the cookie opens
nothing either, until the cookie would have expired anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from compliance.tables import ended_sessions


async def end(conn: AsyncConnection, session_id: str, expires_at: datetime, now: datetime) -> None:
    """Record that the session `session_id`, whose cookie expires at `expires_at`, has
    ended; the records of cookies expired by `now` go (they open nothing anyway)."""
    await conn.execute(delete(ended_sessions).where(ended_sessions.c.expires_at <= now))
    if not await ended(conn, session_id):
        await conn.execute(
            insert(ended_sessions).values(session_id=session_id, expires_at=expires_at)
        )


async def ended(conn: AsyncConnection, session_id: str) -> bool:
    """Whether the session `session_id` was signed out."""
    found = await conn.execute(
        select(ended_sessions.c.session_id).where(ended_sessions.c.session_id == session_id)
    )
    return found.first() is not None
