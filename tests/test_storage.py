"""The schema the migrations build is the schema the code describes, on both backends."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import metadata
from compliance import accounts
from compliance.tables import companies
from dialer.database import create_engine
from dialer.settings import Settings
from tests.support import NOW


async def test_migrations_match_the_table_definitions(engine):
    async with engine.connect() as conn:
        differences = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert differences == []


def test_environment_overrides_the_settings_file(monkeypatch, tmp_path):
    config = tmp_path / "dialer.toml"
    config.write_text('database_url = "sqlite+aiosqlite:///from-file.db"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("DIALER_CONFIG", str(config))
    monkeypatch.setenv("DIALER_LOG_LEVEL", "ERROR")

    settings = Settings()

    assert settings.database_url == "sqlite+aiosqlite:///from-file.db"
    assert settings.log_level == "ERROR"


async def test_a_snapshot_holds_back_no_writer_and_reads_one_instant(app, company, database_url):
    """A listing streaming for minutes must not stop the engine writing: on SQLite it once
    held the write lock, and writers failed after their busy timeout."""
    writer = create_engine(database_url)

    async def add_company() -> None:
        async with writer.begin() as conn:
            await accounts.ensure_company(conn, "other", NOW)

    async def company_count(conn: AsyncConnection) -> int:
        return (await conn.execute(select(func.count()).select_from(companies))).scalar_one()

    try:
        async with app.snapshot() as reader:
            before = await company_count(reader)
            await asyncio.wait_for(add_company(), timeout=5)
            assert await company_count(reader) == before
        async with app.snapshot() as reader:
            assert await company_count(reader) == before + 1
    finally:
        await writer.dispose()
