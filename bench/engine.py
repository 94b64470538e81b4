"""Engine throughput: end-to-end attempts per second on one node, against raw carrier requests.

Ours: `Dispatcher.run_until_done` on a SimClock over a fresh SQLite file, then a fresh
PostgreSQL database when a server answers, with the webhook server
on 127.0.0.1, wired as `dialer serve` wires a real carrier: `TwilioCarrier` subscribed to
final statuses only. The carrier is the simulator in a process of its own
(`python -m dialer.carriers.simulator`, no simulated delays), as a real carrier is another
machine. Every lead is claimed, screened, its dial intent committed, the call placed, and its
signed status callback stored and applied. All calls are answered: one attempt per lead.

Baseline, in the same run against the same simulator process: the same number of
`place_call` requests through a `TwilioCarrier`, in batches of the campaign's
attempts_per_second like the engine's ticks, each batch waiting for its status callbacks,
which go to a receiver that only answers 204, and whose answer URL serves a Gather as the
engine's does: the HTTP traffic of the engine, without the engine. Target: >= 1,000 attempts/s.

Each figure is the median of three runs, each on a fresh database.

Run: `python -m bench.engine [LEADS]` (default 10,000).
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

from bench.upload import POSTGRES_SERVER, scratch_postgres
from campaigns import CampaignState, repository
from compliance import Company, accounts, leads
from compliance.tables import attempts
from dialer.app import App, open_app
from dialer.carriers import TwilioCarrier
from dialer.clock import SimClock
from dialer.database import upgrade_schema
from dialer.dispatch import Dispatcher
from dialer.runner import FINAL_ONLY, SIMULATED_ACCOUNT, listening
from dialer.settings import Settings

LEADS = 10_000
RUNS = 3
TARGET = 1_000.0
ELEVEN_IN_NEW_YORK = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday, inside every window
CALLER_ID = "+12125550100"
CAMPAIGN = f"""
name = "bench"
channel = "voice"
leads = "bench"
caller_id = "{CALLER_ID}"
max_attempts = 1
max_concurrent = 1000
attempts_per_second = 1000
ivr_optout_digit = "9"
"""
POSTGRES_DATABASE = "dialer_bench_engine"
BATCH = 1000  # the campaign's attempts_per_second: what one engine tick places


def phone(index: int) -> str:
    """The index-th number of a Manhattan block (exchanges from 200): one time zone."""
    exchange, line = divmod(index, 10_000)
    return f"+1212{200 + exchange}{line:04d}"


def lead_records(count: int) -> Iterator[tuple[int, dict[str, str]]]:
    for index in range(count):
        record = dict.fromkeys(leads.LEAD_COLUMNS, "")
        record.update(phone=phone(index), external_id=f"B{index}", state="NY")
        yield index + 2, record


async def prepare(app: App, count: int) -> Company:
    """Schema, company, statuses, leads and the campaign (not timed)."""
    await upgrade_schema(app.engine)
    async with app.transaction() as conn:
        company, _ = await accounts.ensure_company(conn, "bench", ELEVEN_IN_NEW_YORK)
        await repository.seed_status_book(conn, company, ELEVEN_IN_NEW_YORK)
        summary = await leads.import_leads(
            conn, company, lead_records(count), "bench", ELEVEN_IN_NEW_YORK
        )
        assert summary.added == count, summary
        await repository.create_campaign(conn, company, CAMPAIGN, ELEVEN_IN_NEW_YORK)
    return company


@asynccontextmanager
async def simulator_process(token: str) -> AsyncIterator[str]:
    """The simulated carrier in a child process; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "dialer.carriers.simulator", "--port", "0", "--callback-delay", "0"),
        *("--account-sid", SIMULATED_ACCOUNT, "--auth-token", token),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        announced = (await process.stdout.readline()).decode()  # "… listening on URL"
        yield announced.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        await process.wait()


def carrier_at(url: str, token: str) -> TwilioCarrier:
    return TwilioCarrier(SIMULATED_ACCOUNT, token, base_url=url, call_events=FINAL_ONLY)


async def time_engine(app: App, company: Company, url: str, token: str, count: int) -> float:
    """Seconds for the engine to run the campaign to the end."""
    carrier = carrier_at(url, token)
    engine = Dispatcher(app, carrier, clock=SimClock(ELEVEN_IN_NEW_YORK))
    try:
        async with listening(engine, "127.0.0.1", 0):
            started = time.perf_counter()
            finished = await engine.run_until_done(company, "bench")
            seconds = time.perf_counter() - started
    finally:
        await carrier.aclose()
    assert finished.state is CampaignState.COMPLETED, finished.state
    async with app.transaction() as conn:
        ended = await conn.scalar(
            select(func.count()).select_from(attempts).where(attempts.c.state == "ended")
        )
    assert ended == count, f"{ended} attempts ended, {count} expected"
    return seconds


ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather numDigits="1" timeout="5" '
    'method="POST" action="{action}"><Say>To stop receiving these calls, press 9.</Say>'
    "</Gather></Response>"
)


async def time_raw_requests(url: str, token: str, count: int) -> float:
    """The same calls straight through the carrier adapter, callbacks to a bare receiver."""
    received = 0
    all_received = asyncio.Event()

    async def receive(_request: web.Request) -> web.Response:
        nonlocal received
        received += 1
        if received == expected:
            all_received.set()
        return web.Response(status=204)

    async def answer(request: web.Request) -> web.Response:
        action = f"{base}/gather?attempt={request.query['attempt']}"
        return web.Response(text=ANSWER.format(action=action), content_type="application/xml")

    receiver = web.Application()
    receiver.router.add_post("/status", receive)
    receiver.router.add_post("/answer", answer)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    carrier = carrier_at(url, token)
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            batch = range(first, min(first + BATCH, count))
            expected, all_received = received + len(batch), asyncio.Event()
            await asyncio.gather(
                *(
                    carrier.place_call(
                        phone(index),
                        CALLER_ID,
                        f"{base}/status?attempt={index}",
                        f"{base}/answer?attempt={index}",
                    )
                    for index in batch
                )
            )
            await all_received.wait()  # as the engine settles each tick before the next
        return time.perf_counter() - started
    finally:
        await carrier.aclose()
        await runner.cleanup()


async def measure(database_url: str, count: int) -> tuple[float, float]:
    token = secrets.token_hex(16)
    async with (
        open_app(
            Settings(database_url=database_url, log_level="WARNING"), initialized=False
        ) as app,
        simulator_process(token) as carrier_url,
    ):
        company = await prepare(app, count)
        engine_seconds = await time_engine(app, company, carrier_url, token, count)
        raw_seconds = await time_raw_requests(carrier_url, token, count)
    return count / engine_seconds, count / raw_seconds


def report(backend: str, runs: list[tuple[float, float]]) -> None:
    """The median of each figure over the runs: this machine's speed wanders by +-20%."""
    engine_rate = statistics.median(engine for engine, _ in runs)
    raw_rate = statistics.median(raw for _, raw in runs)
    verdict = "ok" if engine_rate >= TARGET else "BELOW TARGET"
    print(
        f"engine, {backend} (median of {len(runs)} runs): {engine_rate:,.0f} attempts/s; "
        f"raw carrier requests {raw_rate:,.0f}/s; ratio {engine_rate / raw_rate:.2f} "
        f"(target >= {TARGET:,.0f} attempts/s) {verdict}",
        flush=True,
    )


def sqlite_run(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'engine.db'}"
        return asyncio.run(measure(url, count))


def postgres_run(count: int) -> tuple[float, float]:
    asyncio.run(scratch_postgres(POSTGRES_DATABASE))
    url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{POSTGRES_DATABASE}"
    return asyncio.run(measure(url, count))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else LEADS
    report("SQLite", [sqlite_run(count) for _ in range(RUNS)])
    if asyncio.run(scratch_postgres(POSTGRES_DATABASE)):
        report("PostgreSQL", [postgres_run(count) for _ in range(RUNS)])
    else:
        print(f"engine, PostgreSQL: skipped, no server at {POSTGRES_SERVER}")


if __name__ == "__main__":
    main()
