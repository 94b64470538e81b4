"""GET /api/v1/nodes: the nodes as `dialer nodes --json` shows them, for admins; an admin
sees only their own company's campaigns."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dialer.app import utcnow
from dialer.scheduling import leases, nodes
from tests.api_support import staff_tokens
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, VIEWER
from tests.test_api import problem, served
from tests.test_dispatch_nodes import add_leads, campaign, campaign_text, create, ny
from tests.test_nodes_command import nodes_json


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


async def test_an_admin_sees_the_nodes_as_the_cli_shows_them(app, company, api, dialer):
    staff = await staff_tokens(app, company, api)
    now = utcnow()
    await add_leads(app, company, "spring", ny(1))
    spring = await campaign(app, company, await create(app, company, campaign_text()))
    async with app.transaction() as conn:
        await nodes.register(conn, "live", now)
        await nodes.register(conn, "gone", now - timedelta(minutes=1))
        assert await leases.acquire_tick(conn, spring.id, "live", now, timedelta(seconds=1))

    response = await api.get("/api/v1/nodes", headers=staff[ADMIN])

    assert response.status == 200
    shown = (await response.json())["data"]
    assert shown == await nodes_json(dialer)
    assert [(n["name"], n["alive"], len(n["campaigns"])) for n in shown] == [
        ("live", True, 1),
        ("gone", False, 0),
    ]
    alive = await api.get("/api/v1/nodes", params={"alive": "true"}, headers=staff[ADMIN])
    assert [node["name"] for node in (await alive.json())["data"]] == ["live"]
    rival = await api.get("/api/v1/nodes", headers=staff[OUTSIDER])
    assert [(n["name"], n["campaigns"]) for n in (await rival.json())["data"]] == [
        ("live", []),
        ("gone", []),
    ]


async def test_only_admins_see_the_nodes(app, company, api):
    staff = await staff_tokens(app, company, api)

    for user in (VIEWER, MANAGER):
        await problem(await api.get("/api/v1/nodes", headers=staff[user]), 403, "not_permitted")
    assert (await api.get("/api/v1/nodes")).status == 401
