"""Wiring for a campaign run: the simulated carrier, the webhook server and the engine."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from dialer.app import App
from dialer.carriers import TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.engine import Clock, Engine
from dialer.webhooks import webhook_app

SIMULATED_ACCOUNT = "ACsimulated00000000000000000000000"


@asynccontextmanager
async def simulated_engine(
    app: App, scenario: Scenario, clock: Clock
) -> AsyncIterator[tuple[Engine, Simulator]]:
    """An engine wired to a simulated carrier, both on 127.0.0.1, reached through the same
    Twilio-compatible adapter and signed webhooks that a real carrier uses."""
    token = secrets.token_hex(16)
    simulator = Simulator(scenario, SIMULATED_ACCOUNT, token)
    carrier = TwilioCarrier(SIMULATED_ACCOUNT, token, base_url=await simulator.start())
    engine = Engine(app, carrier, callback_base="", clock=clock)
    runner = web.AppRunner(webhook_app(engine), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        engine.callback_base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield engine, simulator
        await simulator.drain()
    finally:
        await carrier.aclose()
        await simulator.stop()
        await runner.cleanup()
