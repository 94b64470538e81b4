"""What load balancers, orchestrators and Prometheus ask a node, on its webhook port and
without authentication: `/healthz` (the process answers), `/readyz` (it can do its work)
and `/metrics` (`dialer.metrics`).

A node is ready when the database answers within PROBE_TIMEOUT, its heartbeat is fresher
than `nodes.STALE_AFTER` (else other nodes may be taking back its leads), and its scheduler
runs; `dialer serve` records the last two in `Readiness`. Unready, it answers 503 with the
reasons, and 200 again as soon as they are gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aiohttp import web

from dialer.app import App, database_answers, utcnow
from dialer.metrics import Metrics
from dialer.scheduling import nodes

__all__ = ["Probes", "Readiness", "Unready", "add_probes"]


class Unready(StrEnum):
    """Why a node is not ready."""

    DATABASE_UNAVAILABLE = "database_unavailable"
    HEARTBEAT_STALE = "heartbeat_stale"
    SCHEDULER_STOPPED = "scheduler_stopped"


@dataclass(slots=True)
class Readiness:
    """What `dialer serve` tells the probes: its last heartbeat stored, its scheduler state."""

    heartbeat_at: datetime | None = None
    scheduler_running: bool = False

    def beat(self, at: datetime) -> None:
        self.heartbeat_at = at

    def reasons(self, now: datetime) -> list[Unready]:
        """Why the node is not ready as far as it knows, without asking the database."""
        reasons = []
        if self.heartbeat_at is None or now - self.heartbeat_at >= nodes.STALE_AFTER:
            reasons.append(Unready.HEARTBEAT_STALE)
        if not self.scheduler_running:
            reasons.append(Unready.SCHEDULER_STOPPED)
        return reasons


@dataclass(frozen=True, slots=True)
class Probes:
    """What the probes of a node read."""

    app: App
    readiness: Readiness
    metrics: Metrics


PROBES = web.AppKey("probes", Probes)


async def healthz(request: web.Request) -> web.Response:
    """The process answers; nothing else is asked."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the node can do its work, else 503 naming the reasons."""
    probes = request.app[PROBES]
    reasons = probes.readiness.reasons(utcnow())
    if not await database_answers(probes.app):
        reasons.insert(0, Unready.DATABASE_UNAVAILABLE)
    if reasons:
        return web.json_response({"status": "unready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.StreamResponse:
    return await request.app[PROBES].metrics.handle(request)


def add_probes(served: web.Application, probes: Probes) -> None:
    """Serve the probes and the metrics on `served`."""
    served[PROBES] = probes
    served.router.add_get("/healthz", healthz)
    served.router.add_get("/readyz", readyz)
    served.router.add_get("/metrics", metrics)
