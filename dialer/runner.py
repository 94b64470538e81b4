"""Wiring: the carrier (simulated or real), the webhook server, the engine, `dialer serve`."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dialer.app import App
from dialer.carriers import Carrier, TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.engine import Clock, Engine, WallClock
from dialer.webhooks import webhook_app

log = structlog.get_logger("dialer.serve")
SIMULATED_ACCOUNT = "ACsimulated00000000000000000000000"
# The engine acts on final call statuses only; each progress callback would cost a signed
# request and a database write.
FINAL_ONLY = ("completed",)


@asynccontextmanager
async def simulated_carrier(scenario: Scenario) -> AsyncIterator[tuple[TwilioCarrier, Simulator]]:
    """The simulated carrier on 127.0.0.1, reached through the same Twilio-compatible
    adapter and signed webhooks that a real carrier uses."""
    token = secrets.token_hex(16)
    simulator = Simulator(scenario, SIMULATED_ACCOUNT, token)
    carrier = TwilioCarrier(
        SIMULATED_ACCOUNT, token, base_url=await simulator.start(), call_events=FINAL_ONLY
    )
    try:
        yield carrier, simulator
        await simulator.drain()
    finally:
        await carrier.aclose()
        await simulator.stop()


@asynccontextmanager
async def listening(
    engine: Engine, host: str, port: int, public_url: str = ""
) -> AsyncIterator[str]:
    """Serve the engine's webhooks; yields the base URL carriers call back."""
    runner = web.AppRunner(webhook_app(engine), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        engine.callback_base = public_url or f"http://{host}:{runner.addresses[0][1]}"
        yield engine.callback_base
    finally:
        await runner.cleanup()


@asynccontextmanager
async def simulated_engine(
    app: App, scenario: Scenario, clock: Clock
) -> AsyncIterator[tuple[Engine, Simulator]]:
    """An engine wired to a simulated carrier, its webhooks on a free local port."""
    async with simulated_carrier(scenario) as (carrier, simulator):
        engine = Engine(app, carrier, callback_base="", clock=clock)
        async with listening(engine, "127.0.0.1", 0):
            yield engine, simulator


@asynccontextmanager
async def configured_carrier(app: App) -> AsyncIterator[Carrier]:
    settings = app.settings
    if settings.carrier == "twilio":
        carrier = TwilioCarrier(
            settings.carrier_account_sid,
            settings.carrier_auth_token,
            base_url=settings.carrier_url,
            call_events=FINAL_ONLY,
        )
        try:
            yield carrier
        finally:
            await carrier.aclose()
        return
    scenario = Scenario.from_toml(settings.scenario) if settings.scenario else Scenario()
    async with simulated_carrier(scenario) as (simulated, _):
        yield simulated


async def serve(app: App) -> None:
    """Run every running campaign unattended until SIGTERM or SIGINT, then stop cleanly:
    the round under way finishes (its attempts placed and recorded) before exit."""
    settings = app.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with configured_carrier(app) as carrier:
        engine = Engine(app, carrier, callback_base="", clock=WallClock())
        async with listening(
            engine, settings.webhook_host, settings.webhook_port, settings.public_url
        ) as url:
            # APScheduler is only the timer: the schedule itself lives in our tables.
            scheduler = AsyncIOScheduler()
            scheduler.add_job(
                engine.tick_all,
                "interval",
                seconds=settings.tick_seconds,
                max_instances=1,
                coalesce=True,
            )
            scheduler.start()
            log.info("serve.started", webhooks=url, carrier=settings.carrier, node=engine.node)
            await stop.wait()
            scheduler.shutdown(wait=False)
            async with engine.busy:  # the round under way, if any, ends first
                log.info("serve.stopping", node=engine.node)
