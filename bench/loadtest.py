"""The load test: N `dialer serve` nodes on one PostgreSQL database, dialing through one
standalone simulator with a call's realistic delays, webhooks behind a round-robin proxy,
while numbers not yet called are added to the company's DNC list.

All on 127.0.0.1: a fresh database `dialer_load_<random>` (dropped after), `dialer init`,
the leads imported with `dialer leads import` from a CSV, campaigns created and started with
`dialer campaign`; then the simulator (`python -m dialer.carriers.simulator`, which writes its
records on SIGTERM), the nodes (same `public_url` — the proxy —, carrier account and secret
key), and DNC adds through `dialer.services.dnc.add_numbers`, each add's commit instant kept.
It ends when every campaign completes, or at --seconds-max; the nodes get SIGTERM.

Report: attempts placed per second (the simulator's first to last create), callback lag
(the simulator's sent → our 204, which the webhook answers once the callback is committed),
the CPU shares of the PostgreSQL server, the nodes and the simulator, and the invariants,
checked from the simulator's records: no number in two calls at once; no call whose dial
intent was committed after its number's DNC add; at most `attempts_per_second` calls created
in any second and `max_concurrent` up at once, per campaign in total over the nodes; every
lead attempted or skipped. Exits 1 when one fails.

    python -m bench.loadtest --nodes 2 --leads 20000 --seconds-max 180 [--json]
    python -m bench.loadtest --scaling 1,2,3 --campaigns 3    # the benchmark: ratio to 1 node
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import csv
import itertools
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import asyncpg
import psutil
from sqlalchemy import exists, func, select

from bench.balancer import Balancer, free_port
from bench.upload import POSTGRES_SERVER, scratch_postgres
from campaigns.tables import campaign_leads, skips
from compliance import DncList
from compliance.tables import attempts, leads
from dialer.app import open_app
from dialer.services import Caller, dnc
from dialer.settings import Settings

SID, TOKEN = "AC" + "7" * 32, secrets.token_hex(16)
CALLER_ID = "+12125550100"
# Number prefixes by zone, far enough apart that one is inside calling hours at any hour;
# each takes seven more digits to make a valid number there.
ZONE_PREFIXES = {
    "America/New_York": "+1212",
    "America/Chicago": "+1312",
    "America/Denver": "+1303",
    "America/Los_Angeles": "+1213",
    "Pacific/Honolulu": "+1808",
    "Europe/London": "+44207",
    "Australia/Sydney": "+6129",
}
COUNTRIES = "US,GB,AU"  # the company may contact numbers there
# Most calls answered, as on a real list; with one attempt a lead every lead ends after one.
SCENARIO = """seed = 12
default = { answered = 0.6, no-answer = 0.2, busy = 0.1, machine = 0.1 }
"""
# Requests go out a little after their slot (a commit, the event loop): this much is slack
# for the rate and concurrency checks.
JITTER = timedelta(milliseconds=50)
SECOND = timedelta(seconds=1)
AFTER_STOP = "refused once the nodes were stopping"


@dataclass(frozen=True, slots=True)
class Options:
    nodes: int = 2
    leads: int = 20_000
    campaigns: int = 1
    seconds_max: float = 180.0
    # Per campaign: high enough that the engine, not the campaign, is the limit.
    rate: int = 1000
    concurrency: int = 5000
    callback_delay: float = 1.0  # per status: a call is up about four of these
    callback_jitter: float = 1.0
    dnc_adds_per_second: float = 5.0
    tick_seconds: float = 0.5
    profile: Path | None = None  # pyinstrument's text profile of node 0, when it exits


# --- the invariants, over plain records ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One call in the simulator's records: when it was created, and when it reached its
    final status (None: still up when the run ended). The engine counts a call as under way
    from its dial intent until its final callback is committed, so around this span: a
    limit broken here was broken by the engine."""

    number: str
    created: datetime
    ended: datetime | None
    campaign_id: int
    placed_at: datetime | None = None  # when the tick that committed its dial intent began


@dataclass(frozen=True, slots=True)
class DncAdd:
    number: str
    started: datetime
    committed: datetime  # add_numbers returned: its transaction had committed


def overlapping_calls(calls: Iterable[Call], end: datetime) -> list[tuple[Call, Call]]:
    """Pairs of calls to one number that were up at the same time (unended: up until `end`)."""
    by_number: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_number[call.number].append(call)
    pairs = []
    for dialed in by_number.values():
        dialed.sort(key=lambda call: call.created)
        for first, second in itertools.pairwise(dialed):
            if second.created < (first.ended or end):
                pairs.append((first, second))
    return pairs


def calls_after_dnc(calls: Iterable[Call], adds: Iterable[DncAdd]) -> list[tuple[Call, DncAdd]]:
    """Calls created after their number's DNC add committed, with that add."""
    added = {add.number: add for add in adds}
    return [
        (call, added[call.number])
        for call in calls
        if call.number in added and call.created > added[call.number].committed
    ]


def intents_after_dnc(late: Iterable[tuple[Call, DncAdd]]) -> list[tuple[Call, DncAdd]]:
    """The violations among `calls_after_dnc`: calls whose intent was committed by a tick
    that began after the add committed (one that began before may hold the screening lock
    first: the add waits for its intents, which are then placed, as the DNC guarantee says)."""
    return [
        (call, add)
        for call, add in late
        if call.placed_at is None or call.placed_at > add.committed
    ]


def peaks(calls: Iterable[Call], end: datetime) -> tuple[int, int]:
    """The most calls a campaign created in one second, and had up at once."""
    by_campaign: dict[int, list[Call]] = defaultdict(list)
    for call in calls:
        by_campaign[call.campaign_id].append(call)
    busiest = max(
        (busiest_second([c.created for c in cs]) for cs in by_campaign.values()), default=0
    )
    return busiest, max((most_up_at_once(cs, end) for cs in by_campaign.values()), default=0)


def limit_reached(calls: Sequence[Call], rate: int, concurrency: int, end: datetime) -> str:
    """What held the throughput back: a campaign setting it came within 10% of, or the engine."""
    busiest, up = peaks(calls, end)
    if up >= 0.9 * concurrency:
        return f"max_concurrent (up to {up} at once)"
    if busiest >= 0.9 * rate:
        return f"attempts_per_second (up to {busiest} in a second)"
    return f"the engine (at most {busiest} in a second and {up} at once, below both settings)"


def busiest_second(created: Sequence[datetime]) -> int:
    """The most creates in any window of one second (less JITTER)."""
    moments = sorted(created)
    return max(
        (bisect.bisect_left(moments, at + SECOND - JITTER) - i for i, at in enumerate(moments)),
        default=0,
    )


def most_up_at_once(calls: Iterable[Call], end: datetime) -> int:
    """The most calls up at one moment (each up from created to ended, less JITTER)."""
    changes = []
    for call in calls:
        changes.append((call.created, 1))
        changes.append(((call.ended or end) - JITTER, -1))
    most = up = 0
    for _, change in sorted(changes, key=lambda pair: (pair[0], pair[1])):
        up += change
        most = max(most, up)
    return most


@dataclass(slots=True)
class Verdict:
    name: str
    ok: bool
    detail: str


def check(
    calls: Sequence[Call],
    adds: Sequence[DncAdd],
    rate: int,
    concurrency: int,
    unfinished_leads: int | None,
    end: datetime,
) -> list[Verdict]:
    """Every invariant, over the calls of all campaigns (limits are per campaign)."""
    overlaps = overlapping_calls(calls, end)
    late = calls_after_dnc(calls, adds)
    violations = intents_after_dnc(late)
    busiest, most_up = peaks(calls, end)
    verdicts = [
        Verdict("one call at a time per number", not overlaps, f"{len(overlaps)} overlapping"),
        Verdict(
            "no call after its number's DNC add committed",
            not violations,
            f"{len(violations)} intents committed after the add; "
            f"{len(late) - len(violations)} calls created after it from intents committed "
            f"before it (allowed); {len(adds)} adds",
        ),
        Verdict(
            f"at most {rate} calls created a second per campaign",
            busiest <= rate,
            f"the busiest second {busiest}",
        ),
        Verdict(
            f"at most {concurrency} calls up at once per campaign",
            most_up <= concurrency,
            f"most up at once {most_up}",
        ),
    ]
    if unfinished_leads is None:
        verdicts.append(Verdict("every lead attempted or skipped", True, "not checked: stopped"))
    else:
        verdicts.append(
            Verdict(
                "every lead attempted or skipped",
                unfinished_leads == 0,
                f"{unfinished_leads} neither",
            )
        )
    return verdicts


# --- the run ---------------------------------------------------------------------------------


def zone_in_calling_hours() -> str:
    """The zone whose local time is nearest mid-day, so the run stays inside 09:00-19:00."""
    now = datetime.now(ZoneInfo("UTC"))

    def distance(zone: str) -> float:
        local = now.astimezone(ZoneInfo(zone))
        return abs(local.hour + local.minute / 60 - 14)

    zone = min(ZONE_PREFIXES, key=distance)
    if not 9 <= now.astimezone(ZoneInfo(zone)).hour < 19:
        raise SystemExit(f"no zone of {', '.join(ZONE_PREFIXES)} is in calling hours now")
    return zone


def phone(prefix: str, index: int) -> str:
    exchange, line = divmod(index, 10_000)
    return f"{prefix}{200 + exchange}{line:04d}"


def campaign_text(name: str, options: Options) -> str:
    # No window: the legal calling hours alone apply, in the leads' own zone.
    return f"""name = "{name}"
channel = "voice"
leads = "{name}"
caller_id = "{CALLER_ID}"
max_attempts = 1
max_concurrent = {options.concurrency}
attempts_per_second = {options.rate}
ivr_optout_digit = "9"
"""


async def cli(env: dict[str, str], *args: str) -> str:
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", *args, env=env, stdout=pipe, stderr=pipe
    )
    out, err = await process.communicate()
    if process.returncode:
        raise SystemExit(f"dialer {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


async def prepare(env: dict[str, str], folder: Path, options: Options) -> list[str]:
    """`dialer init`, then each campaign's leads imported from a CSV, created and started."""
    await cli(env, "init")
    await cli(env, "company", "set", "--countries", COUNTRIES)
    prefix = ZONE_PREFIXES[zone_in_calling_hours()]
    names = [f"load{k}" for k in range(options.campaigns)]
    for k, name in enumerate(names):
        table = folder / f"{name}.csv"
        with table.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["phone", "external_id"])
            for index in range(k, options.leads, options.campaigns):
                writer.writerow([phone(prefix, index), f"L{index}"])
        definition = folder / f"{name}.toml"
        definition.write_text(campaign_text(name, options), encoding="utf-8")
        await cli(env, "leads", "import", "--list", name, str(table))
        await cli(env, "campaign", "create", "--from", str(definition))
        await cli(env, "campaign", "start", name)
    return names


async def spawn(log: Path, *command: str, **options: Any) -> asyncio.subprocess.Process:
    """Start `command`, its stderr to the file `log` (kept for a failed run's story)."""
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(*command, stderr=stderr, **options)


@contextlib.asynccontextmanager
async def simulator(folder: Path, options: Options) -> AsyncIterator[tuple[str, Path, int]]:
    """The standalone simulator; yields its URL, where its records will be, and its pid."""
    scenario, records = folder / "scenario.toml", folder / "carrier.json"
    scenario.write_text(SCENARIO, encoding="utf-8")
    process = await spawn(
        folder / "carrier.log",
        sys.executable,
        "-m",
        "dialer.carriers.simulator",
        *("--port", "0", "--account-sid", SID, "--auth-token", TOKEN),
        *("--scenario", str(scenario), "--records", str(records)),
        *("--callback-delay", str(options.callback_delay)),
        *("--callback-jitter", str(options.callback_jitter)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        yield line.rsplit(" ", 1)[-1].strip(), records, process.pid
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


@dataclass(slots=True)
class Node:
    process: asyncio.subprocess.Process
    port: int
    cpu: float = 0.0


async def start_nodes(
    env: dict[str, str], folder: Path, ports: Sequence[int], options: Options
) -> list[Node]:
    started = []
    for index, port in enumerate(ports):
        command = [sys.executable, "-m", "dialer", "serve"]
        if index == 0 and options.profile is not None:
            profiler = ["pyinstrument", "--no-color", "-r", "text", "-o", str(options.profile)]
            command[1:3] = ["-m", *profiler, "-m", "dialer"]
        process = await spawn(
            folder / f"node{index}.log",
            *command,
            env={**env, "DIALER_WEBHOOK_PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
        )
        started.append(Node(process, port))
    async with asyncio.timeout(30):
        for node in started:
            while True:
                if node.process.returncode is not None:
                    raise SystemExit(f"a node exited at start; see {folder}/node*.log")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", node.port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
    return started


async def stop_nodes(nodes: Sequence[Node]) -> None:
    """SIGTERM: each stops claiming, finishes what is in flight, and exits."""
    for node in nodes:
        node.cpu = cpu_seconds([node.process.pid], children=True)
        node.process.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            await asyncio.wait_for(node.process.wait(), 60)
        except TimeoutError:
            node.process.kill()
            await node.process.wait()


def postgres_pids() -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def cpu_seconds(pids: Iterable[int], *, children: bool = False) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
            if children:
                total += times.children_user + times.children_system
    return total


def machine_busy(before: Any, after: Any) -> float:
    """CPU seconds the whole machine spent busy between two psutil.cpu_times()."""
    idle = ("idle", "iowait")
    return sum(
        getattr(after, name) - getattr(before, name) for name in after._fields if name not in idle
    )


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process now (backends come and go: a new one
    counts from zero, one gone by the end is lost, so this is a lower bound)."""
    return {pid: cpu_seconds([pid]) for pid in postgres_pids()}


async def add_to_dnc(url: str, stop: asyncio.Event, per_second: float) -> list[DncAdd]:
    """While the campaign runs, put the number of a random lead not yet attempted on the
    company's DNC list, `per_second` times a second; each add's commit instant kept."""
    adds: list[DncAdd] = []
    async with open_app(Settings(database_url=url, log_level="WARNING")) as app:
        queued = (
            select(leads.c.phone)
            .join(campaign_leads, campaign_leads.c.lead_id == leads.c.id)
            .where(campaign_leads.c.state == "queued", campaign_leads.c.attempts == 0)
            .order_by(func.random())
            .limit(1)
        )
        while not stop.is_set():
            async with app.transaction() as conn:
                number = (await conn.execute(queued)).scalar()
            if number is None:
                break
            started = now()
            await dnc.add_numbers(app, Caller(), [f"+{number}"], DncList.DNC, reason="load test")
            adds.append(DncAdd(f"+{number}", started, now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / per_second)
    return adds


def now() -> datetime:
    return datetime.now(ZoneInfo("UTC"))


async def wait_for_completion(url: str, deadline: float) -> bool:
    """Whether every campaign completed before `deadline` (time.monotonic)."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        while time.monotonic() < deadline:
            states = await connection.fetch("SELECT state FROM campaigns")
            if states and all(row["state"] == "completed" for row in states):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await connection.close()


async def database_facts(url: str) -> tuple[dict[int, tuple[datetime, int]], int, int]:
    """Each attempt's intent instant and campaign by id, the leads neither attempted nor
    skipped, and those skipped."""
    settings = Settings(database_url=url, log_level="WARNING")
    async with open_app(settings) as app, app.transaction() as conn:
        intents = {
            attempt_id: (placed_at, campaign_id)
            for attempt_id, placed_at, campaign_id in await conn.execute(
                select(attempts.c.id, attempts.c.placed_at, attempts.c.campaign_id)
            )
        }
        attempted = exists().where(
            attempts.c.campaign_id == campaign_leads.c.campaign_id,
            attempts.c.lead_id == campaign_leads.c.lead_id,
        )
        skipped = exists().where(
            skips.c.campaign_id == campaign_leads.c.campaign_id,
            skips.c.lead_id == campaign_leads.c.lead_id,
        )
        neither = await conn.scalar(
            select(func.count()).select_from(campaign_leads).where(~attempted, ~skipped)
        )
        skipped_count = await conn.scalar(
            select(func.count()).select_from(campaign_leads).where(skipped)
        )
    return intents, neither or 0, skipped_count or 0


def read_calls(records: dict[str, Any], intents: dict[int, tuple[datetime, int]]) -> list[Call]:
    """The simulator's calls, each with its attempt's intent instant and campaign (`intents`
    by attempt id, which the call's answer URL names)."""
    calls = []
    for call in records["calls"]:
        attempt = int(parse_qs(urlparse(call["url"]).query)["attempt"][0])
        placed_at, campaign_id = intents.get(attempt, (None, 0))
        ended = datetime.fromisoformat(call["ended"]) if call["ended"] else None
        created = datetime.fromisoformat(call["at"])
        calls.append(Call(call["to"], created, ended, campaign_id, placed_at))
    return calls


@dataclass(slots=True)
class Report:
    nodes: int
    campaigns: int
    leads: int
    rate: int
    concurrency: int
    completed: bool
    seconds: float
    calls: int
    skipped: int
    attempts_per_second: float
    callback_lag_ms: dict[str, float]
    proxy_errors: dict[str, int]
    callbacks_failed: dict[str, int]
    cpu_share: dict[str, float]
    limit: str = ""
    invariants: list[Verdict] = field(default_factory=list)
    profile: str = ""

    @property
    def lost_callbacks(self) -> bool:
        return any(n for kind, n in self.callbacks_failed.items() if kind != AFTER_STOP)

    @property
    def ok(self) -> bool:
        return all(verdict.ok for verdict in self.invariants)

    def lines(self) -> list[str]:
        lag = self.callback_lag_ms
        shares = ", ".join(f"{name} {share:.0%}" for name, share in self.cpu_share.items())
        lines = [
            f"{self.nodes} node(s), {self.campaigns} campaign(s) of {self.leads:,} leads in all, "
            f"each at most {self.rate}/s and {self.concurrency} at once; the limit: {self.limit}",
            f"{'completed' if self.completed else 'stopped at the time limit'} after "
            f"{self.seconds:.1f}s: {self.calls:,} calls placed, {self.skipped:,} leads skipped",
            f"attempts placed: {self.attempts_per_second:,.1f}/s (first to last create)",
            f"callback lag (sent -> committed 204): p50 {lag['p50']:.0f} ms, "
            f"p95 {lag['p95']:.0f} ms, p99 {lag['p99']:.0f} ms; callbacks "
            + ", ".join(f"{kind} {count:,}" for kind, count in self.callbacks_failed.items()),
            "the proxy's requests to the nodes that failed while they ran: "
            + (", ".join(f"{k} {v:,}" for k, v in self.proxy_errors.items()) or "none"),
            f"CPU share of the machine's {psutil.cpu_count()} cores: {shares} (the rest of "
            f"'all processes' is other work on this machine)",
        ]
        for verdict in self.invariants:
            lines.append(f"  {'ok  ' if verdict.ok else 'FAIL'} {verdict.name}: {verdict.detail}")
        return lines


def answered_at(trip: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(trip["sent"]) + timedelta(seconds=trip["seconds"])


def failed_callbacks(records: dict[str, Any], stopping: datetime) -> dict[str, int]:
    """Callbacks the carrier gave up on, and those answered with an error while the nodes
    ran, by HTTP status (those answered once they were stopping are counted apart)."""
    refused = [trip for trip in records["callbacks"] if trip["http_status"] >= 400]
    late = [trip for trip in refused if answered_at(trip) >= stopping]
    return {
        "undelivered after the carrier's retries": records["undelivered_callbacks"],
        **Counter(f"answered HTTP {trip['http_status']}" for trip in refused if trip not in late),
        AFTER_STOP: len(late),
    }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def placed_per_second(calls: Sequence[Call]) -> float:
    created = sorted(call.created for call in calls)
    if len(created) < 2:
        return 0.0
    return (len(created) - 1) / (created[-1] - created[0]).total_seconds()


async def run(options: Options) -> Report:
    name = f"dialer_load_{secrets.token_hex(4)}"
    if not await scratch_postgres(name):
        raise SystemExit(f"the load test needs PostgreSQL at {POSTGRES_SERVER}")
    url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
    folder = Path(tempfile.mkdtemp(prefix="dialer-load-"))
    kept = True  # the logs of a run that failed, broke, or lost callbacks
    try:
        report = await _run(options, url, folder)
        kept = not report.ok or report.lost_callbacks
        return report
    finally:
        admin = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        if kept:
            print(f"the run's logs and records are in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def _run(options: Options, url: str, folder: Path) -> Report:
    env = {
        **os.environ,
        "DIALER_HOME": str(folder),
        "DIALER_DATABASE_URL": url,
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_LOG_FORMAT": "json",
        "DIALER_TICK_SECONDS": str(options.tick_seconds),
        "DIALER_CARRIER": "twilio",
        "DIALER_CARRIER_ACCOUNT_SID": SID,
        "DIALER_CARRIER_AUTH_TOKEN": TOKEN,
    }
    env.pop("DIALER_CONFIG", None)
    # `dialer init` writes the secret key to the shared data folder: every node reads it.
    names = await prepare(env, folder, options)
    ports = [free_port() for _ in range(options.nodes)]
    async with (
        simulator(folder, options) as (carrier_url, records_path, carrier_pid),
        Balancer([f"http://127.0.0.1:{port}" for port in ports]) as balancer,
    ):
        env |= {"DIALER_CARRIER_URL": carrier_url, "DIALER_PUBLIC_URL": balancer.url}
        database_before, machine_before = postgres_cpu(), psutil.cpu_times()
        bench_before = cpu_seconds([os.getpid()])
        started = time.monotonic()
        nodes = await start_nodes(env, folder, ports, options)
        stop = asyncio.Event()
        adding = asyncio.create_task(add_to_dnc(url, stop, options.dnc_adds_per_second))
        try:
            completed = await wait_for_completion(url, started + options.seconds_max)
        finally:
            stop.set()
            adds = await adding
            seconds = time.monotonic() - started
            database_after, machine_after = postgres_cpu(), psutil.cpu_times()
            carrier_cpu = cpu_seconds([carrier_pid])
            bench_cpu = cpu_seconds([os.getpid()]) - bench_before
            stopping, failed_forwards = now(), dict(balancer.errors)
            await stop_nodes(nodes)
    end = now()
    records = json.loads(records_path.read_text(encoding="utf-8"))
    intents, neither, skipped = await database_facts(url)
    calls = read_calls(records, intents)
    database = sum(cpu - database_before.get(pid, 0.0) for pid, cpu in database_after.items())
    capacity = seconds * (psutil.cpu_count() or 1)
    lags = [trip["seconds"] * 1000 for trip in records["callbacks"] if trip["http_status"] < 300]
    report = Report(
        nodes=options.nodes,
        campaigns=len(names),
        leads=options.leads,
        rate=options.rate,
        concurrency=options.concurrency,
        completed=completed,
        seconds=seconds,
        calls=len(calls),
        skipped=skipped,
        attempts_per_second=placed_per_second(calls),
        callback_lag_ms=percentiles(lags),
        callbacks_failed=failed_callbacks(records, stopping),
        proxy_errors=failed_forwards,
        cpu_share={
            "postgres": database / capacity,
            "nodes": sum(node.cpu for node in nodes) / capacity,
            "simulator": carrier_cpu / capacity,
            "proxy+bench": bench_cpu / capacity,
            "all processes": machine_busy(machine_before, machine_after) / capacity,
        },
    )
    report.limit = limit_reached(calls, options.rate, options.concurrency, end)
    report.invariants = check(
        calls, adds, options.rate, options.concurrency, neither if completed else None, end
    )
    if options.profile is not None and options.profile.exists():
        report.profile = hot_spots(options.profile)
    return report


def hot_spots(path: Path, lines: int = 80) -> str:
    """The head of node 0's profile: where its time went, by call tree (pyinstrument)."""
    return "\n".join(path.read_text(encoding="utf-8").splitlines()[:lines])


# --- the benchmark and the command -----------------------------------------------------------


def scaling(options: Options, counts: Sequence[int]) -> list[Report]:
    """Attempts per second with each count of nodes, as a ratio to one node (target
    >= 0.8 x N), each run on a fresh database against its own simulator."""
    reports = []
    for count in counts:
        report = asyncio.run(run(Options(**{**asdict(options), "nodes": count})))
        reports.append(report)
        print("\n".join(report.lines()), flush=True)
    one = next((r for r in reports if r.nodes == 1), reports[0])
    for report in reports:
        target = 0.8 * report.nodes / one.nodes
        ratio = report.attempts_per_second / one.attempts_per_second
        verdict = "ok" if ratio >= target else "BELOW TARGET"
        print(
            f"{report.nodes} node(s), {report.campaigns} campaign(s): "
            f"{report.attempts_per_second:,.1f} attempts/s; {one.nodes} node "
            f"{one.attempts_per_second:,.1f}/s; ratio {ratio:.2f}x "
            f"(target >= {target:.1f}x) {verdict}; CPU "
            + ", ".join(f"{k} {v:.0%}" for k, v in report.cpu_share.items()),
            flush=True,
        )
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest", description=__doc__.split("\n\n")[0]
    )
    defaults = Options()
    parser.add_argument("--nodes", type=int, default=defaults.nodes)
    parser.add_argument("--leads", type=int, default=defaults.leads)
    parser.add_argument(
        "--campaigns", type=int, default=defaults.campaigns, help="leads split evenly"
    )
    parser.add_argument("--seconds-max", type=float, default=defaults.seconds_max)
    parser.add_argument(
        "--rate", type=int, default=defaults.rate, help="attempts_per_second, per campaign"
    )
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="max_concurrent, per campaign"
    )
    parser.add_argument(
        "--callback-delay",
        type=float,
        default=defaults.callback_delay,
        help="seconds per call status",
    )
    parser.add_argument("--callback-jitter", type=float, default=defaults.callback_jitter)
    parser.add_argument("--dnc-adds-per-second", type=float, default=defaults.dnc_adds_per_second)
    parser.add_argument("--tick-seconds", type=float, default=defaults.tick_seconds)
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile node 0 (pyinstrument) into this file, and print its head",
    )
    parser.add_argument("--scaling", help="node counts to compare, e.g. 1,2,3 (the benchmark)")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    args = parser.parse_args(argv)
    options = Options(
        nodes=args.nodes,
        leads=args.leads,
        campaigns=args.campaigns,
        seconds_max=args.seconds_max,
        rate=args.rate,
        concurrency=args.concurrency,
        callback_delay=args.callback_delay,
        callback_jitter=args.callback_jitter,
        dnc_adds_per_second=args.dnc_adds_per_second,
        tick_seconds=args.tick_seconds,
        profile=args.profile,
    )
    if args.scaling:
        reports = scaling(options, [int(n) for n in args.scaling.split(",")])
    else:
        reports = [asyncio.run(run(options))]
        report = reports[0]
        if args.json:
            print(json.dumps({**asdict(report), "ok": report.ok}, default=str))
        else:
            print("\n".join(report.lines()))
    for report in reports:
        if report.profile:
            print(f"hot spots of node 0 ({report.nodes} nodes):\n{report.profile}")
    return 0 if all(report.ok for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
