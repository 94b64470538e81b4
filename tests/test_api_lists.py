"""State blackouts, sending numbers and the Spam list through the REST API, on a real
server and both databases: the answers are what `dialer blackouts|numbers|spam ... --json`
print, numbers come in any format and go out E.164, managers change, ending a blackout
needs can_remove_dnc, another company's blackout is not found, and a refusal changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api_support import cli_json, staff_tokens, walk
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, REMOVER, VIEWER, contents
from tests.test_api import problem, served

SOON = datetime.now(UTC) + timedelta(days=1)
LATER = SOON + timedelta(days=7)


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


@pytest.fixture
async def staff(app, company, api) -> dict[str, dict[str, str]]:
    return await staff_tokens(app, company, api)


# --- blackouts --------------------------------------------------------------------------


async def add_blackout(api, headers, state: str = "LA", **fields) -> dict:
    wanted = {
        "state": state,
        "starts_at": SOON.isoformat(),
        "ends_at": LATER.isoformat(),
        "source": "https://gov.louisiana.gov/order/2026-1",
        **fields,
    }
    response = await api.post("/api/v1/blackouts", json=wanted, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def test_a_manager_adds_a_blackout_listed_as_the_cli_lists_it(
    app, company, api, staff, dialer
):
    added = await add_blackout(api, staff[MANAGER], "la", reason="Hurricane Ida")

    assert (added["state"], added["reason"], added["ended"]) == ("LA", "Hurricane Ida", None)
    listed = await (await api.get("/api/v1/blackouts", headers=staff[VIEWER])).json()
    assert listed["data"] == [added]
    assert listed["data"] == await cli_json(dialer, "blackouts", "list", "--json")


async def test_blackouts_are_paged_each_once_past_ones_on_asking(app, company, api, staff):
    for state in ("LA", "TX", "FL"):
        await add_blackout(api, staff[MANAGER], state)
    await add_blackout(
        api,
        staff[MANAGER],
        "MS",
        starts_at="2020-01-01T00:00:00Z",
        ends_at="2020-01-02T00:00:00Z",
    )

    current = await walk(api, "/api/v1/blackouts?limit=2", staff[VIEWER])
    assert [blackout["state"] for blackout in current] == ["LA", "TX", "FL"]
    every = await walk(api, "/api/v1/blackouts?limit=1&all=true", staff[VIEWER])
    assert [blackout["state"] for blackout in every] == ["LA", "TX", "FL", "MS"]


async def test_a_refused_blackout_adds_nothing(app, company, api, staff):
    before = await contents(app)
    viewer = await api.post(
        "/api/v1/blackouts",
        json={"state": "LA", "ends_at": LATER.isoformat(), "source": "order 1"},
        headers=staff[VIEWER],
    )
    await problem(viewer, 403, "not_permitted")
    nowhere = await api.post(
        "/api/v1/blackouts",
        json={"state": "ZZ", "ends_at": LATER.isoformat(), "source": "order 1"},
        headers=staff[MANAGER],
    )
    await problem(nowhere, 422, "invalid_blackout")
    backwards = await api.post(
        "/api/v1/blackouts",
        json={
            "state": "LA",
            "starts_at": LATER.isoformat(),
            "ends_at": SOON.isoformat(),
            "source": "order 1",
        },
        headers=staff[MANAGER],
    )
    await problem(backwards, 422, "invalid_blackout")
    naive = await api.post(
        "/api/v1/blackouts",
        json={"state": "LA", "ends_at": "2030-01-01T00:00:00", "source": ""},
        headers=staff[MANAGER],
    )
    body = await problem(naive, 422, "validation_failed")
    assert {error["field"] for error in body["errors"]} == {"ends_at", "source"}
    assert await contents(app) == before


async def test_ending_a_blackout_early_needs_the_removal_permission(
    app, company, api, staff, dialer
):
    added = await add_blackout(api, staff[MANAGER])
    end = f"/api/v1/blackouts/{added['id']}/end"
    before = await contents(app)
    for name in (VIEWER, MANAGER):
        refused = await api.post(end, json={"reason": "lifted"}, headers=staff[name])
        await problem(refused, 403, "not_permitted")
    outsider = await api.post(end, json={"reason": "lifted"}, headers=staff[OUTSIDER])
    await problem(outsider, 404, "not_found")
    unknown = await api.post(
        "/api/v1/blackouts/999/end", json={"reason": "lifted"}, headers=staff[ADMIN]
    )
    await problem(unknown, 404, "not_found")
    blank = await api.post(end, json={"reason": ""}, headers=staff[REMOVER])
    await problem(blank, 422, "validation_failed")
    assert await contents(app) == before

    at = (SOON + timedelta(days=2)).isoformat()
    ended = await api.post(end, json={"at": at, "reason": "order lifted"}, headers=staff[REMOVER])

    assert ended.status == 200, await ended.text()
    shown = await ended.json()
    assert (shown["ended"]["by"], shown["ended"]["reason"]) == (REMOVER, "order lifted")
    assert datetime.fromisoformat(shown["ended"]["at"]) == datetime.fromisoformat(at)
    assert [shown] == await cli_json(dialer, "blackouts", "list", "--json")
    again = await api.post(end, json={"reason": "twice"}, headers=staff[ADMIN])
    await problem(again, 422, "invalid_blackout")


# --- sending numbers --------------------------------------------------------------------


async def test_numbers_in_any_format_are_registered_as_e164(app, company, api, staff, dialer):
    response = await api.post(
        "/api/v1/numbers",
        json={"numbers": ["(305) 555-0100", "+1 212 555 0123", "305.555.0100"]},
        headers=staff[MANAGER],
    )

    assert response.status == 201, await response.text()
    assert await response.json() == {
        "added": ["+12125550123", "+13055550100"],
        "already_registered": [],
    }
    again = await api.post(
        "/api/v1/numbers", json={"numbers": ["3055550100"]}, headers=staff[MANAGER]
    )
    assert again.status == 200
    assert await again.json() == {"added": [], "already_registered": ["+13055550100"]}
    listed = await (await api.get("/api/v1/numbers", headers=staff[VIEWER])).json()
    assert listed["data"] == await cli_json(dialer, "numbers", "list", "--json")
    assert [number["added_by"] for number in listed["data"]] == [MANAGER, MANAGER]


async def test_numbers_are_paged_each_once(app, company, api, staff):
    wanted = [f"+1305555{index:04d}" for index in range(5)]
    await api.post("/api/v1/numbers", json={"numbers": wanted}, headers=staff[MANAGER])

    listed = await walk(api, "/api/v1/numbers?limit=2", staff[VIEWER])

    assert [number["number"] for number in listed] == wanted


async def test_a_refused_registration_registers_none(app, company, api, staff):
    await api.post("/api/v1/numbers", json={"numbers": ["+13055550199"]}, headers=staff[OUTSIDER])
    before = await contents(app)
    viewer = await api.post(
        "/api/v1/numbers", json={"numbers": ["+13055550100"]}, headers=staff[VIEWER]
    )
    await problem(viewer, 403, "not_permitted")
    invalid = await api.post(
        "/api/v1/numbers", json={"numbers": ["+13055550100", "12"]}, headers=staff[MANAGER]
    )
    await problem(invalid, 422, "invalid_number")
    theirs = await api.post(
        "/api/v1/numbers", json={"numbers": ["+13055550100", "305 555 0199"]}, headers=staff[ADMIN]
    )
    body = await problem(theirs, 409, "number_owned_elsewhere")
    assert "rival" not in body["detail"]
    for wrong in ({"numbers": []}, {"numbers": "+13055550100"}, {}):
        refused = await api.post("/api/v1/numbers", json=wrong, headers=staff[MANAGER])
        await problem(refused, 422, "validation_failed")
    assert await contents(app) == before
    ours = await (await api.get("/api/v1/numbers", headers=staff[VIEWER])).json()
    assert ours["data"] == []


# --- the Spam list ----------------------------------------------------------------------


async def test_the_spam_list_and_its_trail_are_what_the_cli_prints(
    app, company, api, staff, dialer
):
    added = await api.post(
        "/api/v1/spam",
        json={"numbers": ["(305) 555-0142", "+1 212 555 0123"], "reason": "bot"},
        headers=staff[MANAGER],
    )
    assert added.status == 201, await added.text()
    assert await added.json() == {"added": ["+12125550123", "+13055550142"], "already_listed": []}

    listed = await (await api.get("/api/v1/spam", headers=staff[VIEWER])).json()
    printed = await cli_json(dialer, "spam", "list", "--json")
    assert listed["data"] == sorted(printed, key=lambda entry: entry["number"])
    assert [entry["reason"] for entry in listed["data"]] == ["bot", "bot"]

    removed = await api.delete(
        "/api/v1/spam/305-555-0142", params={"reason": "a customer"}, headers=staff[MANAGER]
    )
    assert removed.status == 204
    events = await (await api.get("/api/v1/spam/events", headers=staff[VIEWER])).json()
    assert events["data"] == await cli_json(dialer, "spam", "log", "--json")
    assert [(event["action"], event["number"]) for event in events["data"]] == [
        ("add", "+12125550123"),
        ("add", "+13055550142"),
        ("remove", "+13055550142"),
    ]
    one = await api.get(
        "/api/v1/spam/events", params={"number": "3055550142"}, headers=staff[VIEWER]
    )
    assert [event["action"] for event in (await one.json())["data"]] == ["add", "remove"]


async def test_the_spam_list_and_its_trail_are_paged_each_once(app, company, api, staff):
    wanted = [f"+1305555{index:04d}" for index in (4, 0, 3, 1, 2)]
    await api.post("/api/v1/spam", json={"numbers": wanted}, headers=staff[MANAGER])

    entries = await walk(api, "/api/v1/spam?limit=2", staff[VIEWER])
    events = await walk(api, "/api/v1/spam/events?limit=3", staff[VIEWER])

    assert [entry["number"] for entry in entries] == sorted(wanted)
    assert [event["number"] for event in events] == sorted(wanted)
    assert len({event["id"] for event in events}) == len(wanted)


async def test_a_refused_spam_change_changes_nothing(app, company, api, staff):
    await api.post("/api/v1/spam", json={"numbers": ["+13055550142"]}, headers=staff[MANAGER])
    before = await contents(app)
    viewer_add = await api.post(
        "/api/v1/spam", json={"numbers": ["+13055550100"]}, headers=staff[VIEWER]
    )
    await problem(viewer_add, 403, "not_permitted")
    viewer_remove = await api.delete(
        "/api/v1/spam/+13055550142", params={"reason": "x"}, headers=staff[VIEWER]
    )
    await problem(viewer_remove, 403, "not_permitted")
    no_reason = await api.delete("/api/v1/spam/+13055550142", headers=staff[MANAGER])
    await problem(no_reason, 422, "reason_required")
    invalid = await api.post(
        "/api/v1/spam", json={"numbers": ["+13055550100", "555"]}, headers=staff[MANAGER]
    )
    await problem(invalid, 422, "invalid_number")
    elsewhere = await api.delete(
        "/api/v1/spam/+13055550142", params={"reason": "x"}, headers=staff[OUTSIDER]
    )
    await problem(elsewhere, 404, "not_found")
    bad_number = await api.get("/api/v1/spam/events?number=12", headers=staff[VIEWER])
    await problem(bad_number, 422, "invalid_number")
    assert await contents(app) == before


async def test_control_characters_and_out_of_range_instants_are_refused(app, company, api, staff):
    before = await contents(app)
    cases = [
        ("POST", "/api/v1/spam", {"numbers": ["+13055550100"], "reason": "a\x00b"}),
        (
            "POST",
            "/api/v1/blackouts",
            {"state": "LA", "ends_at": LATER.isoformat(), "source": "\x00"},
        ),
        ("POST", "/api/v1/blackouts/1/end", {"reason": "lifted\x00"}),
        ("POST", "/api/v1/inbound/1/resolve", {"decision": "keep", "reason": "\x07"}),
    ]
    for method, path, body in cases:
        refused = await api.request(method, path, json=body, headers=staff[ADMIN])
        await problem(refused, 422, "validation_failed")
    for path in ("/api/v1/users/a%00b", "/api/v1/users/a%00b/password"):
        method = "PATCH" if path.endswith("b") else "PUT"
        body = {"role": "viewer"} if method == "PATCH" else {"password": "x" * 20}
        refused = await api.request(method, path, json=body, headers=staff[ADMIN])
        await problem(refused, 404, "not_found")
    nul_reason = await api.delete(
        "/api/v1/spam/+13055550100", params={"reason": "a\x00"}, headers=staff[MANAGER]
    )
    await problem(nul_reason, 400, "validation_failed")
    far = await api.get(
        "/api/v1/inbound", params={"since": "0001-01-01T00:00:00+01:00"}, headers=staff[VIEWER]
    )
    await problem(far, 400, "validation_failed")
    long_ago = await api.post(
        "/api/v1/blackouts",
        json={
            "state": "LA",
            "starts_at": "0001-01-01T00:00:00+01:00",
            "ends_at": LATER.isoformat(),
            "source": "x",
        },
        headers=staff[MANAGER],
    )
    await problem(long_ago, 422, "invalid_blackout")
    assert await contents(app) == before
