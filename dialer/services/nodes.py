"""The engine nodes sharing the database, as an operator sees them: each node's version and
liveness, the campaigns it paces and the attempts it holds (`dialer nodes`, the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from campaigns import attempts, queue
from campaigns import repository as campaign_store
from compliance import Permission
from dialer.app import App, utcnow
from dialer.scheduling import leases, nodes
from dialer.services import Caller, acting

__all__ = ["PACED_WITHIN", "NodeReport", "Paced", "list_nodes", "node_view"]

# A campaign is shown under the node that last held its tick lease, if that lease ran at
# least until this long ago: a campaign paused or finished a while ago is paced by no one.
PACED_WITHIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Paced:
    """A campaign whose last tick lease a node got; `holding` while the lease runs."""

    company: str
    campaign: str
    until: datetime
    holding: bool


@dataclass(frozen=True, slots=True)
class NodeReport:
    node: nodes.Node
    campaigns: list[Paced]
    attempts_held: int  # attempts not settled yet that the node settles
    leads_leased: int  # leads claimed or in flight under the node's lease


async def list_nodes(app: App, caller: Caller, *, alive_only: bool = False) -> list[NodeReport]:
    """Every registered node, the most recently started first (with `alive_only`, the live
    ones). An admin sees the campaigns of their own company only; the local operator sees
    every company's. One query per fact, whatever the number of nodes."""
    async with app.snapshot() as conn:
        who = await acting(app, conn, caller, Permission.MANAGE_USERS)
        now = utcnow()
        registered = await nodes.every_node(conn, now)
        pacing = await leases.recent_pacing(conn, now - PACED_WITHIN)
        named = await campaign_store.campaigns_by_id(conn, [p.campaign_id for p in pacing])
        held = await attempts.open_by_node(conn)
        leased = await queue.leased_by_node(conn)
    paced: dict[str, list[Paced]] = {}
    for lease in pacing:
        company, campaign = named[lease.campaign_id]
        if who.user is None or company.id == who.company.id:
            paced.setdefault(lease.node_id, []).append(
                Paced(company.name, campaign.name, lease.acquired_until, lease.acquired_until > now)
            )
    return [
        NodeReport(
            node,
            paced.get(node.node_id, []),
            held.get(node.node_id, 0),
            leased.get(node.node_id, 0),
        )
        for node in registered
        if node.alive or not alive_only
    ]


def node_view(report: NodeReport) -> dict[str, Any]:
    node = report.node
    return {
        "name": node.node_id,
        "host": node.hostname,
        "pid": node.pid,
        "version": node.version,
        "started_at": node.started_at.isoformat(),
        "last_heartbeat": node.heartbeat_at.isoformat(),
        "stopped_at": node.stopped_at.isoformat() if node.stopped_at else None,
        "alive": node.alive,
        "campaigns": [
            {
                "company": paced.company,
                "campaign": paced.campaign,
                "holding": paced.holding,
                "until": paced.until.isoformat(),
            }
            for paced in report.campaigns
        ],
        "attempts_held": report.attempts_held,
        "leads_leased": report.leads_leased,
    }
