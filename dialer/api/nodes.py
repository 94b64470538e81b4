"""The engine nodes sharing the database, for admins (as `dialer nodes`): an admin sees the
campaigns of their own company only."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dialer.api.routing import Routes, respond
from dialer.api.schemas import Instant
from dialer.api.state import APP, CALLER
from dialer.services import nodes as service

ROUTES = Routes()


class PacedCampaign(BaseModel):
    company: str
    campaign: str
    holding: bool = Field(description="The node holds its tick lease now (else it held it last).")
    until: Instant


class Node(BaseModel):
    """A node as `dialer nodes --json` shows it."""

    name: str
    host: str
    pid: int
    version: str | None = Field(description="Null for a node registered by an older dialer.")
    started_at: Instant
    last_heartbeat: Instant
    stopped_at: Instant | None
    alive: bool = Field(description="Not stopped, and its last heartbeat is recent.")
    campaigns: list[PacedCampaign]
    attempts_held: int = Field(description="Attempts not settled yet that the node settles.")
    leads_leased: int = Field(description="Leads claimed or in flight under its lease.")


class NodeList(BaseModel):
    data: list[Node]


class NodeQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alive: bool = Field(False, description="Only the nodes alive now.")


@ROUTES.route(
    "GET",
    "/nodes",
    "Every engine node, the latest started first (admins)",
    response=NodeList,
    query=NodeQuery,
    errors=(403,),
)
async def list_nodes(request: web.Request, query: NodeQuery) -> web.Response:
    reports = await service.list_nodes(request.app[APP], request[CALLER], alive_only=query.alive)
    return respond(NodeList, {"data": [service.node_view(report) for report in reports]})
