"""Prometheus metrics of a node, served at /metrics on its webhook port.

The only module that imports prometheus_client. `Metrics` implements the dispatcher's
`Observer` (`dialer.dispatch.observer`) and owns a registry of its own, not the library's
global one, so that several apps in one process (tests, a benchmark) do not share series.

Counters are per process, as Prometheus expects: sum them over nodes (`sum by (campaign)
(rate(dialer_attempts_placed_total[1m]))`). They count what this node's dispatcher, its
webhooks and its REST API's `POST /dnc` did, after the transaction that did it committed.
A change made by a CLI command (`dnc add`, `dnc import`, `leads dnc`), by a file uploaded
to the API, or by a disposition someone sets runs outside the dispatcher and is counted by
no node: the DNC audit and the reports show those.

Gauges of the cluster (attempts in flight, leads due, nodes alive) are read from the
database when scraped, with one grouped query each, and kept `CLUSTER_TTL` seconds so that
a scrape storm does not load the database; every node reports the same values, so take
`max` over nodes, not `sum`. When the database does not answer, a scrape still succeeds,
without those gauges and with `dialer_scrape_database_up 0`.

Cardinality stays bounded: labels are company and campaign names (created by people, a
handful per company), channels, status codes of the company's status book, reason codes
(`compliance.reasons`), list names, DNC sources, and what became of a failed carrier
request (`Placement`): closed vocabularies or configuration. No number, lead, attempt,
call sid or node id is ever a label.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import DBAPIError

from campaigns import CallStatus, Campaign, queue
from campaigns import repository as campaign_store
from compliance import Channel, Company
from dialer.app import PROBE_TIMEOUT, App, utcnow
from dialer.dispatch.observer import Additions
from dialer.scheduling import nodes

__all__ = ["CLUSTER_TTL", "Metrics"]

log = structlog.get_logger("dialer.metrics")
# How long the database-derived gauges are reused between scrapes.
CLUSTER_TTL = 5.0
CAMPAIGN = ("company", "campaign")
# Seconds from a carrier's event to its commit: Twilio dates events to the second.
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0)
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class _ClusterFacts:
    under_way: dict[tuple[str, str], int]
    due: dict[tuple[str, str], int]
    nodes_alive: int


class _Cluster:
    """The cluster-wide gauges, read from the database at most every CLUSTER_TTL seconds."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._facts: _ClusterFacts | None = None
        self._read_at = float("-inf")
        self._reading = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the facts again if they are older than CLUSTER_TTL; a failure is kept as
        long, so a database that does not answer is not asked at every scrape."""
        async with self._reading:
            if time.monotonic() - self._read_at < CLUSTER_TTL:
                return
            try:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    self._facts = await self._read()
            except (DBAPIError, OSError, TimeoutError) as error:
                log.warning("metrics.database_unavailable", error=str(error))
                self._facts = None
            self._read_at = time.monotonic()

    async def _read(self) -> _ClusterFacts:
        now = utcnow()
        async with self.app.snapshot() as conn:
            running = await campaign_store.running_campaigns(conn)
            totals = await queue.due_and_under_way(conn, [c.id for _, c in running], now)
            alive = await nodes.count_alive(conn, now)
        labels = {c.id: (company.name, c.name) for company, c in running}
        return _ClusterFacts(
            under_way={labels[c.id]: totals.get(c.id, (0, 0))[1] for _, c in running},
            due={labels[c.id]: totals.get(c.id, (0, 0))[0] for _, c in running},
            nodes_alive=alive,
        )

    def describe(self) -> list[Metric]:
        return []  # its families vary with the database's state: nothing to check up front

    def collect(self) -> Iterator[Metric]:
        facts = self._facts
        up = GaugeMetricFamily(
            "dialer_scrape_database_up",
            "Whether the database answered the last read of the cluster gauges (1) or not (0)",
        )
        up.add_metric([], 0 if facts is None else 1)
        yield up
        if facts is None:
            return
        for name, doc, values in (
            (
                "dialer_attempts_in_flight",
                "Leads of a running campaign claimed or in flight, on every node",
                facts.under_way,
            ),
            ("dialer_leads_due", "Queued leads of a running campaign that are due", facts.due),
        ):
            family = GaugeMetricFamily(name, doc, labels=CAMPAIGN)
            for label_values, value in sorted(values.items()):
                family.add_metric(label_values, value)
            yield family
        alive = GaugeMetricFamily("dialer_nodes_alive", "Engine nodes whose heartbeat is fresh")
        alive.add_metric([], facts.nodes_alive)
        yield alive


class Metrics:
    """The node's Prometheus registry and the dispatcher's observer that feeds it."""

    def __init__(self, app: App) -> None:
        self.registry = CollectorRegistry()
        self._cluster = _Cluster(app)
        self.registry.register(self._cluster)
        self._handler = make_aiohttp_handler(self.registry)

        def counter(name: str, doc: str, labels: Iterable[str]) -> Counter:
            return Counter(name, doc, labels, registry=self.registry)

        def histogram(
            name: str, doc: str, labels: Iterable[str], buckets: Iterable[float]
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=self.registry, buckets=buckets)

        self.placed = counter(
            "dialer_attempts_placed_total", "Attempts the carrier took", (*CAMPAIGN, "channel")
        )
        self.ended = counter(
            "dialer_attempts_ended_total",
            "Attempts ended, by the call status they ended in",
            (*CAMPAIGN, "channel", "status"),
        )
        self.skips = counter(
            "dialer_skips_total",
            "Leads the compliance gate refused, by the code of the first reason",
            (*CAMPAIGN, "reason"),
        )
        self.carrier_failures = counter(
            "dialer_carrier_errors_total",
            "Create requests the carrier failed, by what became of the call or text",
            (*CAMPAIGN, "kind"),
        )
        self.additions = counter(
            "dialer_dnc_additions_total",
            "Numbers newly put on a company's DNC or DNT list, by source",
            ("company", "list", "source"),
        )
        self.opt_outs = counter(
            "dialer_opt_outs_total",
            "Contacts who asked for no more: an IVR key, a STOP text, a carrier's refusal",
            ("company", "channel"),
        )
        self.callbacks = counter(
            "dialer_callbacks_stored_total",
            "Carrier callbacks and keypresses stored (repeats not counted)",
            (),
        )
        self.lag = histogram(
            "dialer_callback_lag_seconds",
            "From the event a carrier callback dates (Twilio's Timestamp) to its commit",
            (),
            LAG_BUCKETS,
        )
        self.ticks = histogram(
            "dialer_tick_duration_seconds",
            "One tick of a campaign: claim, screen and commit its dial intents",
            CAMPAIGN,
            TICK_BUCKETS,
        )
        self.screening = histogram(
            "dialer_screening_batch_duration_seconds",
            "One batch of claimed leads through the compliance gate",
            CAMPAIGN,
            TICK_BUCKETS,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /metrics: the Prometheus text format (or OpenMetrics, if asked for)."""
        await self._cluster.refresh()
        return await self._handler(request)

    # The Observer protocol; each call is one increment per label set of a batch.

    def attempts_placed(self, company: Company, campaign: Campaign, count: int) -> None:
        self.placed.labels(company.name, campaign.name, _channel(campaign)).inc(count)

    def attempts_ended(
        self, company: Company, campaign: Campaign, statuses: Iterable[CallStatus]
    ) -> None:
        channel = _channel(campaign)
        for code, count in collections.Counter(status.code for status in statuses).items():
            self.ended.labels(company.name, campaign.name, channel, code).inc(count)

    def skipped(self, company: Company, campaign: Campaign, reasons: Mapping[str, int]) -> None:
        for reason, count in reasons.items():
            self.skips.labels(company.name, campaign.name, reason).inc(count)

    def carrier_errors(
        self, company: Company, campaign: Campaign, kinds: Mapping[str, int]
    ) -> None:
        for kind, count in kinds.items():
            self.carrier_failures.labels(company.name, campaign.name, kind).inc(count)

    def listed(self, company: Company, additions: Additions) -> None:
        for (dnc_list, source), count in additions.items():
            self.additions.labels(company.name, dnc_list.value, source.value).inc(count)

    def opted_out(self, company: Company, channel: Channel, count: int) -> None:
        self.opt_outs.labels(company.name, channel.value).inc(count)

    def callbacks_stored(self, count: int) -> None:
        self.callbacks.inc(count)

    def callback_lag(self, seconds: Iterable[float]) -> None:
        for lag in seconds:
            self.lag.observe(max(0.0, lag))  # clocks apart by less than the second it rounds

    def tick_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        self.ticks.labels(company.name, campaign.name).observe(seconds)

    def screening_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        self.screening.labels(company.name, campaign.name).observe(seconds)


def _channel(campaign: Campaign) -> str:
    return campaign.spec.channel.value
