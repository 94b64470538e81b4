"""Inbound texts and their review through the REST API, on a real server and both
databases: the answers are what `dialer inbound list|review --json` print, a manager
keeps, releasing needs can_remove_dnc, a message not waiting is a 409, another company's
is not found, and a refusal changes nothing."""

from __future__ import annotations

import pytest

from campaigns import inbound
from campaigns.inbound import InboundText
from campaigns.keywords import load_keyword_actions
from compliance.numbers import add_sending_numbers
from tests.api_support import cli_json, staff_tokens, walk
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, REMOVER, VIEWER, contents
from tests.support import NOW
from tests.test_api import problem, served

OURS = "+13055550100"
SENDER = "+13055550142"
OTHER = "+13055550143"


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


@pytest.fixture
async def staff(app, company, api) -> dict[str, dict[str, str]]:
    return await staff_tokens(app, company, api)


@pytest.fixture
async def received(app, company, staff) -> list[int]:
    """Three texts to the company: an opt-out, a presumed one waiting for review from
    SENDER, another."""
    ids = []
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
        for sid, sender, body in (
            ("SM1", OTHER, "STOP"),
            ("SM2", SENDER, "please stop texting me"),
            ("SM3", OTHER, "hi"),
        ):
            text = InboundText(sid, sender, OURS, body)
            ids.append((await inbound.receive(conn, text, NOW, load_keyword_actions())).id)
    return ids


async def test_the_texts_and_the_review_queue_are_what_the_cli_prints(
    app, company, api, staff, received, dialer
):
    listed = await (await api.get("/api/v1/inbound", headers=staff[VIEWER])).json()
    queued = await (await api.get("/api/v1/inbound/review", headers=staff[VIEWER])).json()

    assert listed["data"] == await cli_json(dialer, "inbound", "list", "--json")
    assert [message["id"] for message in listed["data"]] == received
    assert [message["from"] for message in listed["data"]] == [OTHER, SENDER, OTHER]
    assert queued["data"] == await cli_json(dialer, "inbound", "review", "--json")
    assert [message["id"] for message in queued["data"]] == [received[1]]


async def test_the_texts_are_filtered_and_paged_each_once(app, company, api, staff, received):
    every = await walk(api, "/api/v1/inbound?limit=1", staff[VIEWER])
    opt_outs = await api.get(
        "/api/v1/inbound", params={"classification": "opt_out"}, headers=staff[VIEWER]
    )
    later = await api.get(
        "/api/v1/inbound", params={"since": "2099-01-01T00:00:00Z"}, headers=staff[VIEWER]
    )
    queue = await walk(api, "/api/v1/inbound/review?limit=1", staff[VIEWER])

    assert [message["id"] for message in every] == received
    assert [message["id"] for message in (await opt_outs.json())["data"]] == [received[0]]
    assert (await later.json())["data"] == []
    assert [message["id"] for message in queue] == [received[1]]
    unknown = await api.get("/api/v1/inbound?classification=shouting", headers=staff[VIEWER])
    await problem(unknown, 400, "validation_failed")


async def test_releasing_needs_the_removal_permission_and_a_refusal_changes_nothing(
    app, company, api, staff, received, dialer
):
    pending = received[1]
    resolve = f"/api/v1/inbound/{pending}/resolve"
    before = await contents(app)
    viewer = await api.post(
        resolve, json={"decision": "keep", "reason": "it stands"}, headers=staff[VIEWER]
    )
    await problem(viewer, 403, "not_permitted")
    manager = await api.post(
        resolve, json={"decision": "release", "reason": "a question"}, headers=staff[MANAGER]
    )
    await problem(manager, 403, "not_permitted")
    outsider = await api.post(
        resolve, json={"decision": "keep", "reason": "it stands"}, headers=staff[OUTSIDER]
    )
    await problem(outsider, 404, "not_found")
    for wrong in ({"decision": "maybe", "reason": "x"}, {"decision": "keep", "reason": "  "}):
        refused = await api.post(resolve, json=wrong, headers=staff[ADMIN])
        await problem(refused, 422, "validation_failed")
    not_waiting = await api.post(
        f"/api/v1/inbound/{received[0]}/resolve",
        json={"decision": "keep", "reason": "it stands"},
        headers=staff[ADMIN],
    )
    await problem(not_waiting, 409, "review_refused")
    assert await contents(app) == before

    released = await api.post(
        resolve, json={"decision": "release", "reason": "a question"}, headers=staff[REMOVER]
    )

    assert released.status == 200, await released.text()
    shown = await released.json()
    assert (shown["message"]["review"], shown["message"]["reviewed_by"]) == ("released", REMOVER)
    assert shown["removed_from"] == ["dnc"]
    assert shown["message"] in await cli_json(dialer, "inbound", "list", "--json")
    again = await api.post(
        resolve, json={"decision": "keep", "reason": "it stands"}, headers=staff[MANAGER]
    )
    body = await problem(again, 409, "review_refused")
    assert "released by mia" in body["detail"]


async def test_a_manager_keeps_an_opt_out(app, company, api, staff, received):
    kept = await api.post(
        f"/api/v1/inbound/{received[1]}/resolve",
        json={"decision": "keep", "reason": "it stands"},
        headers=staff[MANAGER],
    )

    assert kept.status == 200, await kept.text()
    assert (await kept.json())["removed_from"] == []
    queued = await (await api.get("/api/v1/inbound/review", headers=staff[VIEWER])).json()
    assert queued["data"] == []
