"""The skip log, interactions, dispositions and the gate's dry run through the API, on a
real server and both databases: the CLI's JSON and CSV, pages, filters, roles, another
company's rows and bad requests."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest

from tests.api_support import as_, cli_json, staffed
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, contents
from tests.test_api import problem
from tests.test_reporting import seed


@pytest.fixture
async def api(app, company, engine):
    seeded = await seed(engine, company)
    async with staffed(app, company) as client:
        client.seeded = seeded
        yield client


async def walk(api, path: str, user: str = VIEWER, **query) -> list[dict]:
    items, url = [], f"{path}?{urlencode({'limit': 2, **query})}"
    while url:
        response = await api.get(url, headers=as_(api, user))
        assert response.status == 200, await response.text()
        page = await response.json()
        assert len(page["data"]) <= 2
        items += page["data"]
        url = page["next_url"]
    return items


def by_content(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"campaign": "spring-followup"},
        {"reason": "COMPANY_DNC"},
        {"since": "2026-03-10T16:00:00+00:00", "until": "2026-03-10T21:00:00+00:00"},
    ],
)
async def test_the_skip_log_pages_through_what_dialer_skips_shows(
    app, company, api, dialer, filters
):
    found = await walk(api, "/api/v1/skips", **filters)

    options = [part for key, value in filters.items() for part in (f"--{key}", value)]
    command = ("skips", "--all", "--format", "json", *options)
    by_cli = await cli_json(dialer, *command)
    assert by_content(found) == by_content(by_cli)
    assert found


async def test_the_skip_log_as_csv_is_the_cli_s(app, company, api, dialer):
    response = await api.get(
        "/api/v1/skips?campaign=spring-followup", headers={**as_(api, VIEWER), "Accept": "text/csv"}
    )

    assert response.status == 200
    assert response.content_type == "text/csv"
    command = ("skips", "--all", "--format", "csv", "--campaign", "spring-followup")
    result = await asyncio.to_thread(dialer, *command, "--company", "acme")
    # click's Result turns the CSV's \r\n line ends into \n, as it does any output's.
    assert (await response.text()).replace("\r\n", "\n") == result.stdout
    assert (await response.text()).count("\n") == 3  # the header and two skips


async def test_interactions_page_through_what_dialer_interactions_shows(app, company, api, dialer):
    found = await walk(api, "/api/v1/interactions")

    by_cli = await cli_json(dialer, "interactions", "--all", "--format", "json")
    assert by_content(found) == by_content(by_cli)
    assert [row["id"] for row in found] == sorted(row["id"] for row in found)
    one = await walk(api, "/api/v1/interactions", campaign="autumn")
    assert [row["id"] for row in one] == [api.seeded.attempts["a5"]]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("reason=NOPE", 400, "validation_failed"),
        ("since=yesterday", 400, "validation_failed"),
        ("since=2026-03-10T16:00:00", 400, "validation_failed"),  # no UTC offset
        ("until=2300-01-01T00:00:00Z", 400, "validation_failed"),
        ("campaign=nope", 404, "not_found"),
        ("cursor=bm90LWEtY3Vyc29y", 400, "invalid_cursor"),
        ("limit=0", 400, "validation_failed"),
    ],
)
async def test_bad_skip_filters_are_refused(app, company, api, query, status, code):
    await problem(await api.get(f"/api/v1/skips?{query}", headers=as_(api, VIEWER)), status, code)


async def test_another_company_sees_none_of_the_rows(app, company, api):
    for path in ("/api/v1/skips", "/api/v1/interactions"):
        assert await walk(api, path, user=OUTSIDER) == []
    refused = await api.get("/api/v1/skips?campaign=autumn", headers=as_(api, OUTSIDER))
    await problem(refused, 404, "not_found")


# --- dispositions ---------------------------------------------------------------------------


async def test_a_manager_sets_a_disposition_and_its_actions_fire(app, company, api, dialer):
    attempt = api.seeded.attempts["a4"]
    path = f"/api/v1/interactions/{attempt}/disposition"
    before = await contents(app)

    refused = await api.post(path, json={"status": "WRONG_NUMBER"}, headers=as_(api, VIEWER))
    await problem(refused, 403, "not_permitted")
    outside = await api.post(path, json={"status": "WRONG_NUMBER"}, headers=as_(api, OUTSIDER))
    await problem(outside, 404, "not_found")
    unknown = await api.post(path, json={"status": "NOPE"}, headers=as_(api, MANAGER))
    assert "NOPE" in (await problem(unknown, 422, "unknown_status"))["detail"]
    missing = await api.post(
        "/api/v1/interactions/999999/disposition",
        json={"status": "WRONG_NUMBER"},
        headers=as_(api, MANAGER),
    )
    await problem(missing, 404, "not_found")
    assert await contents(app) == before

    response = await api.post(path, json={"status": "WRONG_NUMBER"}, headers=as_(api, MANAGER))

    assert response.status == 200, await response.text()
    assert await response.json() == {
        "id": attempt,
        "status": "WRONG_NUMBER",
        "final": True,
        "actions": ["lead_dnc:phone", "lead_dnc:sms"],
    }
    shown = await cli_json(dialer, "leads", "show", "L2", "--json")
    assert shown["dnc"]["channels"] == ["phone", "sms"]
    assert shown["dnc"]["updated_by"] == MANAGER


# --- the gate's dry run ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "options", "allowed"),
    [
        (
            {"number": "(305) 555-0199", "at": "2026-03-10T15:00:00Z"},
            ["--at", "2026-03-10T15:00:00Z"],
            True,
        ),
        (
            {"number": "305.555.0103", "lead": "L3", "at": "2026-03-10T03:00:00Z"},
            ["--lead", "L3", "--at", "2026-03-10T03:00:00Z"],
            False,
        ),
        (
            {"number": "3055550199", "channel": "sms", "state": "ok", "at": "2026-03-14T15:00Z"},
            ["--channel", "sms", "--state", "ok", "--at", "2026-03-14T15:00Z"],
            None,
        ),
    ],
)
async def test_check_answers_as_dialer_check_json(
    app, company, api, dialer, body, options, allowed
):
    response = await api.post("/api/v1/check", json=body, headers=as_(api, VIEWER))

    assert response.status == 200, await response.text()
    decision = await response.json()
    command = ("check", body["number"], *options, "--json", "--company", "acme")
    result = await asyncio.to_thread(dialer, *command)
    assert decision == json.loads(result.stdout)
    assert result.exit_code == (0 if decision["allowed"] else 1)
    if allowed is not None:
        assert decision["allowed"] is allowed


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"number": "3055550199", "state": "Narnia"}, 422, "validation_failed"),
        ({"number": "3055550199", "timezone": "america/denver"}, 422, "validation_failed"),
        ({"number": "3055550199", "channel": "fax"}, 422, "validation_failed"),
        ({"number": "3055550199", "at": "2026-03-10T15:00:00"}, 422, "validation_failed"),
        ({"number": "3055550199", "campaign": "nope"}, 404, "not_found"),
        ({"number": "3055550199", "lead": "L9"}, 404, "not_found"),
        ({"numbers": ["3055550199"]}, 422, "validation_failed"),
    ],
)
async def test_a_bad_check_is_refused(app, company, api, body, status, code):
    response = await api.post("/api/v1/check", json=body, headers=as_(api, VIEWER))

    found = await problem(response, status, code)
    if code == "validation_failed":
        assert found["errors"]
