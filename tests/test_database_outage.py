"""A database outage while `dialer serve` dials through a real carrier process: the
connections to PostgreSQL are cut for 8 s by a TCP proxy between the two processes. Nothing
is lost: every lead is dialed once, every keypress reaches the DNC list, no lead is stuck.
PostgreSQL only: SQLite has no server to lose."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from campaigns import CampaignState
from compliance import Channel, accounts, registry
from compliance.tables import attempts
from tests.support import NOW
from tests.test_dispatch_nodes import (
    SID,
    TOKEN,
    add_leads,
    campaign,
    carrier_calls,
    create,
    numbers_in_calling_hours,
)
from tests.test_engine import CAMPAIGN, COUNTRIES, rows

OUTAGE = 8.0


class TcpProxy:
    """Forwards TCP connections to `upstream`; `cut()` drops every connection and refuses
    new ones until `restore()`, as a database restart or a network partition does."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.open = True
        self._pipes: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.open = False
        for writer in self._pipes:
            writer.transport.abort()

    def restore(self) -> None:
        self.open = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._pipes.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.transport.abort()


@contextlib.asynccontextmanager
async def standalone_carrier(scenario: str, tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(scenario)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "dialer.carriers.simulator", "--port", "0"),
        *("--account-sid", SID, "--auth-token", TOKEN, "--callback-delay", "1"),
        *("--scenario", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.kill()
        await process.wait()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)
async def test_an_outage_of_the_database_loses_no_keypress_and_strands_no_lead(
    app, company, database_url, tmp_path
):
    numbers = numbers_in_calling_hours(40)
    opting_out = {n for n in numbers if n.endswith("3")}
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers])
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    await create(
        app, company, anytime.replace("attempts_per_second = 10", "attempts_per_second = 4")
    )
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(port=await proxy.start()).render_as_string(hide_password=False)
    scenario = (
        'seed = 1\ndefault = { answered = 1.0 }\n[[outcome]]\nmatch = "*3"\n'
        'result = "answered"\ndigits = "9"\n'
    )
    async with standalone_carrier(scenario, tmp_path) as carrier_url:
        env = {
            **os.environ,
            "DIALER_DATABASE_URL": through_proxy,
            "DIALER_LOG_LEVEL": "WARNING",
            "DIALER_WEBHOOK_PORT": "0",
            "DIALER_CARRIER": "twilio",
            "DIALER_CARRIER_URL": carrier_url,
            "DIALER_CARRIER_ACCOUNT_SID": SID,
            "DIALER_CARRIER_AUTH_TOKEN": TOKEN,
        }
        serve = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dialer",
            "serve",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(30):
                while len(await carrier_calls(carrier_url)) < 8:
                    assert serve.returncode is None, "serve exited early"
                    await asyncio.sleep(0.05)
            proxy.cut()  # calls are ringing, keys about to be pressed, callbacks due
            await asyncio.sleep(OUTAGE)
            proxy.restore()
            async with asyncio.timeout(120):
                while (await campaign(app, company, "spring")).state is not CampaignState.COMPLETED:
                    assert serve.returncode is None, "serve exited during the outage"
                    await asyncio.sleep(0.2)
        finally:
            serve.send_signal(signal.SIGTERM)
            await serve.wait()
            await proxy.stop()
        calls = await carrier_calls(carrier_url)

    assert sorted(call["to"] for call in calls) == sorted(numbers)  # each dialed once
    ended = await rows(
        app, select(attempts.c.number, attempts.c.status).where(attempts.c.state == "ended")
    )
    assert sorted((f"+{number}", status) for number, status in ended) == sorted(
        (n, "DNC_REQUESTED" if n in opting_out else "ANSWERED") for n in numbers
    )
    async with app.transaction() as conn:
        listed = await registry.blocked(conn, company, sorted(opting_out), Channel.VOICE, NOW)
    assert set(listed) == opting_out
