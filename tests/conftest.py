"""Storage fixtures: every storage test runs on a SQLite file and on PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (override with DIALER_TEST_POSTGRES_URL). Each
test session creates its own database there and drops it at the end. Without a server the
PostgreSQL cases are skipped locally, and fail when CI=true.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns import metadata, repository
from compliance import Company, accounts, passwords
from dialer.app import App, open_app
from dialer.cli import main
from dialer.database import create_engine, upgrade_schema
from dialer.settings import Settings, create_secret_key
from tests.support import NOW

POSTGRES_SERVER = os.environ.get(
    "DIALER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session", autouse=True)
def _data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reaches the user's data folder or database: the default is a temporary one."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("home")
        create_secret_key(home)  # as `dialer init` does: the API's sessions need one
        patch.setenv("DIALER_HOME", str(home))
        patch.delenv("DIALER_DATABASE_URL", raising=False)
        patch.delenv("DIALER_CONFIG", raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def _cheap_passwords() -> Iterator[None]:
    """Passwords hashed with argon2's CHEAPEST parameters: the production hasher's 64 MiB
    and three passes would cost a third of a second a hash. Only tests swap it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        yield


async def _admin(statement: str) -> None:
    engine = create_engine(POSTGRES_SERVER)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_schema(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A freshly migrated PostgreSQL database for this test session."""
    name = f"dialer_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, ConnectionError) as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs PostgreSQL at {POSTGRES_SERVER}: {error}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_SERVER}: {error}")
    url = make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(table.name for table in metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}"
        asyncio.run(_migrate(url))
        return url
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_tables(url))
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    """The application, as every command opens it, on the test's database."""
    async with open_app(Settings(database_url=database_url, log_level="WARNING")) as opened:
        yield opened


@pytest.fixture
async def company(engine: AsyncEngine) -> Company:
    async with engine.begin() as conn:
        created, _ = await accounts.ensure_company(conn, "acme", NOW)
        await repository.seed_status_book(conn, created, NOW)
    return created


@pytest.fixture
def dialer(database_url: str) -> Callable[..., Result]:
    """Run `dialer ARGS...` in this process against the test database, initialized;
    returns click's Result. `input` is the command's standard input."""
    runner = CliRunner()
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke
