"""Engine throughput: end-to-end attempts per second on one node, against raw carrier requests.

Ours: `Engine.run_until_done` on a SimClock, wired exactly as `dialer campaign run` wires it
(`dialer.runner.simulated_engine`: the simulated carrier and the signed-webhook server on
127.0.0.1, no simulated delays), over a fresh SQLite file: every lead claimed, screened,
its dial intent committed, the call placed through `TwilioCarrier`, and its four status
callbacks stored and applied. All calls are answered, so each lead is attempted once.

Baseline, in the same run against the same simulator: the same number of `place_call`
requests through a `TwilioCarrier`, in batches of the campaign's attempts_per_second like
the engine's ticks, each batch waiting for its status callbacks, which go to a receiver
that only answers 204. Target: >= 1,000 attempts/s.

Run: `python -m bench.engine [LEADS]` (default 5,000).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from campaigns import CampaignState, repository
from compliance import Company, accounts, leads
from dialer.app import App, open_app
from dialer.carriers import TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.database import upgrade_schema
from dialer.engine import SimClock
from dialer.runner import simulated_engine
from dialer.settings import Settings

LEADS = 5_000
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


async def time_engine(app: App, company: Company, count: int) -> tuple[float, float]:
    """Seconds for the engine to run the campaign to the end, then for the raw requests."""
    async with simulated_engine(app, Scenario(), SimClock(ELEVEN_IN_NEW_YORK)) as (engine, sim):
        started = time.perf_counter()
        finished = await engine.run_until_done(company, "bench")
        engine_seconds = time.perf_counter() - started
        assert finished.state is CampaignState.COMPLETED, finished.state
        assert len(sim.calls) == count, f"{len(sim.calls)} calls placed, {count} expected"
        raw_seconds = await time_raw_requests(sim, count)
    return engine_seconds, raw_seconds


async def time_raw_requests(sim: Simulator, count: int) -> float:
    """The same calls straight through the carrier adapter, callbacks to a bare receiver."""

    async def received(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/status", received)
    receiver.router.add_post("/answer", received)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    carrier = TwilioCarrier(sim.account_sid, sim.auth_token, base_url=sim.url)
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started = time.perf_counter()
        for first in range(0, count, BATCH):
            await asyncio.gather(
                *(
                    carrier.place_call(
                        phone(index),
                        CALLER_ID,
                        f"{base}/status?attempt={index}",
                        f"{base}/answer?attempt={index}",
                    )
                    for index in range(first, min(first + BATCH, count))
                )
            )
            await sim.drain()  # as the engine settles each tick before the next
        return time.perf_counter() - started
    finally:
        await carrier.aclose()
        await runner.cleanup()


async def measure(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'engine.db'}"
        async with open_app(Settings(database_url=url, log_level="WARNING")) as app:
            company = await prepare(app, count)
            engine_seconds, raw_seconds = await time_engine(app, company, count)
    return count / engine_seconds, count / raw_seconds


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else LEADS
    engine_rate, raw_rate = asyncio.run(measure(count))
    print(
        f"engine: {engine_rate:,.0f} attempts/s; raw carrier requests: {raw_rate:,.0f}/s; "
        f"ratio {engine_rate / raw_rate:.2f} (target >= {TARGET:,.0f} attempts/s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
