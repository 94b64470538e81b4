"""The composition root: settings, logging and the database engine, opened once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.database import create_engine
from dialer.logs import configure_logging
from dialer.settings import Settings


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
async def open_app(settings: Settings | None = None) -> AsyncIterator[App]:
    """Configure logging, open the database, and close it again on exit."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = create_engine(settings.database_url)
    try:
        yield App(settings, engine)
    finally:
        await engine.dispose()
