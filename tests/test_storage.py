"""The schema the migrations build is the schema the code describes, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from campaigns import metadata
from dialer.settings import Settings


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
