"""Wiring: the carrier (simulated or real), the webhook server, the dispatcher, this node's
heartbeat and recovery, `dialer serve` and `dialer campaign run`."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dialer.app import App
from dialer.carriers import Carrier, TwilioCarrier
from dialer.carriers.simulator import Scenario, Simulator
from dialer.clock import Clock, WallClock
from dialer.dispatch import Dispatcher
from dialer.metrics import Metrics
from dialer.probes import Probes, Readiness, add_probes
from dialer.scheduling import nodes
from dialer.settings import InvalidSettings, Settings, SettingsConflict
from dialer.webhooks import webhook_app

log = structlog.get_logger("dialer.serve")
SIMULATED_ACCOUNT = "ACsimulated00000000000000000000000"
# The engine acts on final call statuses only; each progress callback would cost a signed
# request and a database write.
FINAL_ONLY = ("completed",)
# Every node settles overdue attempts and takes back a gone node's leads this often.
RECOVER_SECONDS = 5.0


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
    dispatcher: Dispatcher,
    host: str,
    port: int,
    public_url: str = "",
    api: web.Application | None = None,
    probes: Probes | None = None,
) -> AsyncIterator[str]:
    """Serve the dispatcher's webhooks, `api` at /api/v1 and the node's probes and metrics
    if given; yields the base URL carriers call back."""
    served = webhook_app(dispatcher)
    if probes is not None:
        add_probes(served, probes)
    if api is not None:
        from dialer.api import PREFIX  # see on_duty

        served.add_subapp(PREFIX, api)
    runner = web.AppRunner(served, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise InvalidSettings(
                f"cannot listen for webhooks on {host}:{port} (webhook_host, webhook_port): "
                f"{error.strerror or error}"
            ) from None
        dispatcher.callback_base = public_url or f"http://{host}:{runner.addresses[0][1]}"
        yield dispatcher.callback_base
    finally:
        await runner.cleanup()


@asynccontextmanager
async def simulated_engine(
    app: App, scenario: Scenario, clock: Clock
) -> AsyncIterator[tuple[Dispatcher, Simulator]]:
    """A dispatcher wired to a simulated carrier, its webhooks on a free local port."""
    async with simulated_carrier(scenario) as (carrier, simulator):
        dispatcher = Dispatcher(app, carrier, clock=clock)
        # A forecast's node is not registered: its simulated time is no heartbeat. Its
        # leases are trusted until they expire, on the clock of the run that finds them.
        async with listening(dispatcher, "127.0.0.1", 0) as url:
            simulator.sms_url = incoming_texts_url(url)
            yield dispatcher, simulator
            # Replies still on their way reach the webhooks before those close.
            await simulator.drain()


def real_carrier(app: App) -> TwilioCarrier:
    settings = app.settings
    return TwilioCarrier(
        settings.carrier_account_sid,
        settings.carrier_auth_token,
        base_url=settings.carrier_url,
        call_events=FINAL_ONLY,
    )


def chosen_scenario(settings: Settings, path: Path | None) -> Scenario:
    """The simulator's outcomes: the file given, else the `scenario` setting's, else every
    call answered and every text delivered. InvalidScenario says what is wrong."""
    source = path or settings.scenario
    return Scenario.from_toml(source) if source else Scenario()


def incoming_texts_url(callback_base: str) -> str:
    """Where the simulator posts the texts its scenario replies with: our SMS webhook."""
    return f"{callback_base}/webhooks/sms"


@asynccontextmanager
async def configured_carrier(app: App) -> AsyncIterator[tuple[Carrier, Simulator | None]]:
    """The carrier the settings name: a real account, or the simulator (then yielded too,
    to be told where incoming texts go once the webhooks listen)."""
    settings = app.settings
    if settings.carrier == "twilio":
        async with real_carrier(app) as carrier:
            yield carrier, None
        return
    async with simulated_carrier(chosen_scenario(settings, None)) as (simulated, simulator):
        yield simulated, simulator


@asynccontextmanager
async def configured_dispatcher(
    app: App, scenario: Scenario, clock: Clock | None
) -> AsyncIterator[Dispatcher]:
    """For `campaign run`: the real carrier on the wall clock when one is configured, else
    the simulator with `scenario`'s outcomes, on `clock` (the wall clock by default)."""
    settings = app.settings
    if settings.carrier == "twilio":
        if clock is not None:
            raise SettingsConflict(
                "--sim-clock runs on the simulated carrier; carrier = 'twilio' is configured, "
                "whose calls happen on the wall clock"
            )
        async with real_carrier(app) as carrier:
            dispatcher = Dispatcher(app, carrier)
            async with on_duty(dispatcher):
                yield dispatcher
        return
    async with simulated_engine(app, scenario, clock or WallClock()) as (
        dispatcher,
        _,
    ):
        yield dispatcher


@asynccontextmanager
async def on_duty(dispatcher: Dispatcher, probes: Probes | None = None) -> AsyncIterator[str]:
    """A node dialing real calls: its webhooks, the REST API and `probes` served where the
    settings say, and the node in the nodes table while it runs (its heartbeat kept by
    `heartbeat`). Yields the base URL carriers call back."""
    # Imported here: the API's handlers call services that run campaigns through this module.
    from dialer.api import api_app

    app, settings = dispatcher.app, dispatcher.app.settings
    async with listening(
        dispatcher,
        settings.webhook_host,
        settings.webhook_port,
        settings.public_url,
        api_app(app, dispatcher.observer),
        probes,
    ) as url:
        async with app.transaction() as conn:
            await nodes.register(conn, dispatcher.node, dispatcher.clock.now())
        try:
            yield url
        finally:
            async with app.transaction() as conn:  # the node's id now: it may have changed
                await nodes.stop(conn, dispatcher.node, dispatcher.clock.now())


async def heartbeat(dispatcher: Dispatcher) -> None:
    """Keep this node alive; one declared dead meanwhile registers again under a new id."""
    async with dispatcher.app.transaction() as conn:
        now = dispatcher.clock.now()
        if await nodes.heartbeat(conn, dispatcher.node, now):
            return
        fresh = nodes.new_node_id()
        log.error("node.declared_dead", node=dispatcher.node, new_node=fresh)
        await nodes.register(conn, fresh, now)
    dispatcher.become(fresh)


def _logged(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A scheduled job whose failure (a database outage) is logged, and tried next time."""

    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception(f"serve.{name}_failed")

    return run


async def serve(app: App) -> None:
    """Run every running campaign unattended until SIGTERM or SIGINT, then stop cleanly:
    claim no more work, let the create requests under way finish and be recorded, and mark
    the node stopped, so other nodes take back the calls it still has up (recovery)."""
    settings = app.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with configured_carrier(app) as (carrier, simulator):
        # A tick lease spans one second whatever the tick period: a tick claims one second's
        # worth of attempts, so a shorter lease would multiply the campaign's rate.
        metrics, readiness = Metrics(app), Readiness()
        dispatcher = Dispatcher(app, carrier, clock=WallClock(), observer=metrics)
        # Every event of the process names its node; the tasks started from here on (the
        # webhook server's, the timer's) inherit it. The dispatcher's entry points bind it
        # again, so their events follow a change of id (`heartbeat`).
        structlog.contextvars.bind_contextvars(node=dispatcher.node)
        async with on_duty(dispatcher, Probes(app, readiness, metrics)) as url:
            readiness.beat(dispatcher.clock.now())  # on_duty registered the node
            if simulator is not None:
                simulator.sms_url = incoming_texts_url(url)
            # APScheduler is only the timer: the schedule itself lives in our tables.
            scheduler = AsyncIOScheduler()
            ticking = asyncio.Lock()  # held while a round runs: a stop waits for it
            beating = asyncio.Lock()  # held while a heartbeat runs: the same

            async def tick() -> None:
                async with ticking:
                    await dispatcher.tick_all()

            async def beat() -> None:
                async with beating:
                    await heartbeat(dispatcher)
                    readiness.beat(dispatcher.clock.now())

            jobs = (
                ("tick", tick, settings.tick_seconds),
                ("recover", dispatcher.recover, RECOVER_SECONDS),
                ("heartbeat", beat, nodes.HEARTBEAT_EVERY.total_seconds()),
            )
            for name, job, seconds in jobs:
                scheduler.add_job(
                    _logged(name, job),
                    "interval",
                    id=name,
                    seconds=seconds,
                    max_instances=1,
                    coalesce=True,
                )
            scheduler.start()
            readiness.scheduler_running = True
            log.info("serve.started", webhooks=url, carrier=settings.carrier, node=dispatcher.node)
            await stop.wait()
            readiness.scheduler_running = False  # a load balancer sends no more to a stopping node
            log.info("serve.stopping", node=dispatcher.node)
            # Claim no more work at once; the heartbeat goes on while the requests under way
            # finish, so no other node takes back the leads this one still holds.
            scheduler.remove_job("tick")
            scheduler.remove_job("recover")
            async with ticking:
                await dispatcher.drain()
            scheduler.shutdown(wait=False)
            async with beating:  # a heartbeat after the stop would register the node again
                pass
