"""Engines for SQLite (embedded default) and PostgreSQL (production), and schema upgrades."""

from __future__ import annotations

import os
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The table Alembic keeps the schema's revision in: there once `dialer init` has run.
REVISION_TABLE = "alembic_version"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",  # 64 MiB: keeps bulk-load index pages in memory
)


class DatabaseNotInitialized(Exception):
    """The configured database has no schema yet (or does not exist): `dialer init` makes it."""


class DatabaseUnavailable(Exception):
    """The configured database cannot be reached or opened; ``str()`` says where and why."""


def location(url: str) -> str:
    """Where the database is, for people: a SQLite file's absolute path, else the URL
    without its password."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    parsed = make_url(url)
    shown = URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database
    )
    return shown.render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite database file; None for PostgreSQL or in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().absolute()


async def open_database(url: str, home: Path, *, initialized: bool = True) -> AsyncEngine:
    """An engine on a database that answers and, when `initialized`, has the schema; else
    DatabaseNotInitialized or DatabaseUnavailable, and nothing is created. Not initialized
    (`dialer init`), the data folder `home` is created if the SQLite file belongs in it."""
    path = sqlite_file(url)
    if path is None:
        engine = create_engine(url)
        try:
            has_schema = await _has_schema(engine)
        except (DBAPIError, OSError) as error:
            await engine.dispose()
            raise _unavailable(location(url), _why(error)) from None
    else:
        has_schema = _sqlite_has_schema(path, home, initialized=initialized)
        engine = create_engine(url)
    if initialized and not has_schema:
        await engine.dispose()
        if path is not None and not path.exists():
            raise DatabaseNotInitialized(
                f"there is no database at {path} yet: run `dialer init` to create it"
            )
        raise DatabaseNotInitialized(
            f"the database at {location(url)} has no dialer schema yet: run `dialer init`"
        )
    return engine


async def _has_schema(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: inspect(sync).has_table(REVISION_TABLE))


def _sqlite_has_schema(path: Path, home: Path, *, initialized: bool) -> bool:
    """Whether the file holds the schema, read without writing: the engine would create a
    missing file and turn an empty one into a WAL database. Only the data folder is
    created, and only for `dialer init` (not `initialized`)."""
    if not path.parent.is_dir() and path.parent != home:
        raise DatabaseUnavailable(
            f"the folder {path.parent} of database_url does not exist: create it, "
            "or set database_url to a file in a folder that does"
        )
    if not initialized:
        _make_folder(path.parent)
    if not path.exists():
        return False
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as probe:
            return probe.execute(query, (REVISION_TABLE,)).fetchone() is not None
    except sqlite3.Error as error:
        raise _unavailable(str(path), str(error)) from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseUnavailable(f"cannot create the folder {folder}: {error.strerror}") from None


def _unavailable(where: str, reason: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot open the database at {where}: {reason}")


def _why(error: DBAPIError | OSError) -> str:
    """The cause in the driver's or the system's words, without the library's framing."""
    if isinstance(error, DBAPIError):
        return str(error.orig)
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    # The system's words for the errno, without the address tuple the drivers add.
    return os.strerror(error.errno) if error.errno else str(error)


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite files get WAL, a busy timeout, foreign keys and one writer."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    # One writer: SQLite takes one at a time anyway, and connections queuing in the pool
    # are served in order, where connections queuing in SQLite's busy handler sleep.
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 driver so that we can BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


READ_ONLY = "dialer_read_only"


def read_only_options(dialect: str) -> dict[str, Any]:
    """Execution options of a read-only snapshot: PostgreSQL reads each statement as of its
    own start unless asked for REPEATABLE READ; a SQLite read in WAL mode is one snapshot
    already, and begun DEFERRED it takes no write lock."""
    if dialect == "postgresql":
        return {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    return {READ_ONLY: True}


def _sqlite_begin(connection: Connection) -> None:
    # One writer: every transaction that may write takes the write lock up front, so two
    # writers queue on the busy timeout instead of failing to upgrade a read lock half-way.
    # A read-only snapshot takes none, so a long listing holds back no writer.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _upgrade(connection: Connection) -> None:
    # Imported here: Alembic costs a tenth of a second that only `dialer init` needs.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Create the schema or bring it to the newest migration."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
