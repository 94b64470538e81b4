"""The composition root: settings, logging and the database engine, opened once per process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.database import open_database, read_only_options
from dialer.logs import configure_logging
from dialer.settings import Settings

# How long work may wait for the database to take its transaction: a webhook's carrier
# gives up after 15 s (Twilio), and a placing must record what the carrier said.
PATIENCE = 12.0
RETRY_PAUSE = 0.5
# A load balancer's probe gives up after a few seconds; a database slower than that is down.
PROBE_TIMEOUT = 3.0
T = TypeVar("T")
log = structlog.get_logger("dialer.app")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class App:
    settings: Settings
    engine: AsyncEngine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose work commits on success and rolls back on any error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction that sees the database as of one instant and holds back
        no writer, however long it streams: for listings, exports, reports and copies."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**read_only_options(conn.dialect.name))
            async with conn.begin():
                yield conn


@asynccontextmanager
async def open_app(
    settings: Settings | None = None, *, initialized: bool = True
) -> AsyncIterator[App]:
    """Configure logging, open the database, and close it again on exit.

    The database must answer and, when `initialized` (every command but `dialer init`),
    have its schema: else DatabaseUnavailable or DatabaseNotInitialized, nothing created.
    """
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = await open_database(settings.database_url, settings.home, initialized=initialized)
    try:
        yield App(settings, engine)
    finally:
        await engine.dispose()


async def patiently(app: App, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in a transaction, again while the database refuses it (it rolled back
    whole, so trying again is safe), for at most PATIENCE seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        try:
            async with app.transaction() as conn:
                return await work(conn)
        except (DBAPIError, OSError) as error:
            # A broken rule (a key taken twice) fails the same way every time.
            if isinstance(error, IntegrityError) or loop.time() + RETRY_PAUSE > deadline:
                raise
            log.warning("database.retrying", error=str(getattr(error, "orig", error)))
            await asyncio.sleep(RETRY_PAUSE)


async def database_answers(app: App) -> bool:
    """Whether the database answers a query within PROBE_TIMEOUT: the health probes' test."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), app.snapshot() as conn:
            await conn.execute(text("SELECT 1"))
    except (DBAPIError, OSError, TimeoutError) as error:
        log.warning("database.unavailable", error=str(getattr(error, "orig", error)))
        return False
    return True
