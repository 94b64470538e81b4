"""`dialer nodes`: the engine nodes sharing the database, for an operator."""

from __future__ import annotations

import click

from dialer.cli.support import caller_of, emit_json, iso, json_option, print_table, run
from dialer.scheduling.nodes import STALE_AFTER
from dialer.services import nodes as service

COLUMNS = ("name", "host", "version", "started_at", "last_heartbeat", "state", "campaigns", "held")


@click.command("nodes")
@click.option("--alive", "alive_only", is_flag=True, help="Only the nodes alive now.")
@json_option
def nodes(alive_only: bool, as_json: bool) -> None:
    """Every `dialer serve` node registered in the database, the latest started first.

    For each: its host, pid and dialer version, when it started, its last heartbeat, and
    whether it is alive. A node is dead once it stopped (a clean exit) or once its last
    heartbeat is older than {stale} seconds; its leads are then taken back by the others.
    CAMPAIGNS are those whose tick lease the node holds now, or was the last to hold within
    the past minute (marked *); HELD counts the attempts not settled yet that the node
    settles, and the leads claimed or in flight under its lease. Nodes silent for a day are
    forgotten.
    """
    reports = run(lambda app: service.list_nodes(app, caller_of(None), alive_only=alive_only))
    if as_json:
        emit_json([service.node_view(report) for report in reports])
    elif reports:
        print_table(COLUMNS, [_row(report) for report in reports])
    else:
        click.echo("No nodes: none has run `dialer serve` on this database for a day.")


nodes.help = (nodes.help or "").replace("{stale}", str(int(STALE_AFTER.total_seconds())))


def _row(report: service.NodeReport) -> tuple[str, ...]:
    node = report.node
    state = (
        "alive" if node.alive else f"stopped {iso(node.stopped_at)}" if node.stopped_at else "dead"
    )
    campaigns = ", ".join(
        f"{p.company}/{p.campaign}" + ("" if p.holding else "*") for p in report.campaigns
    )
    held = f"{report.attempts_held} attempts, {report.leads_leased} leads"
    return (
        node.node_id,
        f"{node.hostname} (pid {node.pid})",
        node.version or "?",
        iso(node.started_at),
        iso(node.heartbeat_at),
        state,
        campaigns,
        held,
    )
