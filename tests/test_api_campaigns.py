"""The campaigns and statuses endpoints on a real server and both databases: the CLI's JSON
shapes, definitions as JSON or TOML, the lifecycle, eligibility, roles, another company's
campaigns and bad payloads."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from compliance import DncList
from dialer import tomltext
from dialer.app import utcnow
from dialer.services import Caller, dnc
from tests.api_support import as_, cli_json, staffed
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, VIEWER, contents
from tests.test_api import problem

EXAMPLE = (Path(__file__).parent.parent / "config" / "examples" / "campaign.toml").read_text()
TOML = {"Content-Type": "application/toml"}
FIELDS = {
    "name": "spring-json",
    "channel": "voice",
    "leads": "spring",
    "caller_id": "(305) 555-0000",
    "max_attempts": 3,
    "max_concurrent": 20,
    "attempts_per_second": 5,
    "window": {"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri"]},
    "retry": {"NO_ANSWER": "4h", "BUSY": "30m", "MACHINE": "1d"},
    "ivr_optout_digit": "9",
    "ivr_prompt": 'Say "stop"\tor press {digit}.',
}
LEADS = [
    {"phone": "(305) 555-0117", "external_id": "FL1", "state": "FL"},  # callable: 10:00 there
    {"phone": "(305) 555-0118", "external_id": "FL2", "state": "FL"},  # on the company's DNC list
    {"phone": "(808) 555-0119", "external_id": "HI1", "state": "HI"},  # 05:00 in Honolulu
]


@pytest.fixture
async def api(app, company):
    async with staffed(app, company) as client:
        response = await client.post(
            "/api/v1/leads", json={"list": "spring", "leads": LEADS}, headers=as_(client, ADMIN)
        )
        assert response.status == 200, await response.text()
        yield client


async def create(api, body=FIELDS, user=MANAGER, **headers):
    if isinstance(body, str):
        return await api.post(
            "/api/v1/campaigns", data=body, headers={**as_(api, user), **TOML, **headers}
        )
    return await api.post("/api/v1/campaigns", json=body, headers={**as_(api, user), **headers})


async def act(api, name: str, action: str, user=MANAGER):
    return await api.post(f"/api/v1/campaigns/{name}/{action}", headers=as_(api, user))


def next_tuesday_1500() -> datetime:
    """15:00 UTC on a Tuesday to come: 10:00 or 11:00 in Florida, 05:00 in Hawaii."""
    day = utcnow().date() + timedelta(days=1)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 15, tzinfo=UTC)


# --- the shapes --------------------------------------------------------------------------


async def test_campaigns_come_from_json_or_toml_and_read_as_the_cli_shows_them(
    app, company, api, dialer
):
    from_json = await create(api)
    from_toml = await create(api, EXAMPLE)

    assert from_json.status == from_toml.status == 201, await from_json.text()
    created = await from_json.json()
    assert (created["name"], created["state"], created["caller_id"]) == (
        "spring-json",
        "draft",
        "+13055550000",
    )
    shown = {}
    for name in ("spring-json", "spring-calls"):
        shown[name] = await (
            await api.get(f"/api/v1/campaigns/{name}", headers=as_(api, VIEWER))
        ).json()
        by_cli = await cli_json(dialer, "campaign", "show", name, "--json")
        assert shown[name] == by_cli
    definition = tomllib.loads(shown["spring-json"]["definition"])
    assert definition["ivr_prompt"] == FIELDS["ivr_prompt"]
    assert definition["window"] == FIELDS["window"]

    seen, url = [], "/api/v1/campaigns?limit=1"
    while url:
        page = await (await api.get(url, headers=as_(api, VIEWER))).json()
        seen += page["data"]
        url = page["next_url"]
    listed = await cli_json(dialer, "campaign", "list", "--json")
    assert [campaign["name"] for campaign in seen] == ["spring-json", "spring-calls"]
    assert sorted(seen, key=lambda campaign: campaign["name"]) == listed


async def test_a_retried_create_creates_one_campaign(app, company, api):
    first = await create(api, **{"Idempotency-Key": "spring-1"})
    again = await create(api, **{"Idempotency-Key": "spring-1"})

    assert (first.status, again.status) == (201, 201)
    assert await again.json() == await first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    page = await (await api.get("/api/v1/campaigns", headers=as_(api, VIEWER))).json()
    assert [campaign["name"] for campaign in page["data"]] == ["spring-json"]
    other = await create(api, EXAMPLE, **{"Idempotency-Key": "spring-1"})
    await problem(other, 422, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"name": "half"}, "invalid_definition", "missing field"),
        ({**FIELDS, "leads": "autumn"}, "invalid_definition", "no lead list 'autumn'"),
        ({**FIELDS, "channel": "fax"}, "invalid_definition", "channel"),
        ({**FIELDS, "retry": {"ANSWERED": "1h"}}, "invalid_definition", "retry.ANSWERED"),
        ({**FIELDS, "max_attempts": "three"}, "validation_failed", "body"),
        ({**FIELDS, "colour": "red"}, "validation_failed", "body"),
        ('name = "broken', "invalid_definition", "not valid TOML"),
        (EXAMPLE.replace("max_attempts = 3", "max_attempts = 0"), "invalid_definition", "max_"),
    ],
)
async def test_a_bad_definition_is_refused_and_creates_nothing(app, company, api, body, code, says):
    before = await contents(app)

    found = await problem(await create(api, body), 422, code)

    assert says in found["detail"]
    assert await contents(app) == before


async def test_a_campaign_s_report_is_the_cli_s(app, company, api, dialer):
    await create(api)
    await act(api, "spring-json", "start")

    response = await api.get("/api/v1/campaigns/spring-json/report", headers=as_(api, VIEWER))

    assert response.status == 200
    report = await response.json()
    command = ("report", "spring-json", "--format", "json")
    assert report == await cli_json(dialer, *command)
    assert report["leads_in_queue"] == 3


# --- the lifecycle and edits -------------------------------------------------------------


async def test_a_campaign_changes_while_draft_or_paused_only(app, company, api, dialer):
    await create(api)
    path = "/api/v1/campaigns/spring-json"

    draft = await api.patch(
        path, json={"window": None, "max_attempts": 2}, headers=as_(api, MANAGER)
    )
    assert draft.status == 200, await draft.text()
    definition = tomllib.loads((await draft.json())["definition"])
    assert "window" not in definition
    assert definition["max_attempts"] == 2
    assert (await (await act(api, "spring-json", "start")).json())["state"] == "running"

    before = await contents(app)
    running = await api.patch(path, json={"max_concurrent": 5}, headers=as_(api, MANAGER))
    await problem(running, 409, "invalid_transition")
    assert await contents(app) == before

    assert (await (await act(api, "spring-json", "pause")).json())["state"] == "paused"
    paused = await api.patch(path, json={"max_concurrent": 5}, headers=as_(api, MANAGER))
    assert paused.status == 200, await paused.text()
    assert (await paused.json())["max_concurrent"] == 5
    shown = await cli_json(dialer, "campaign", "show", "spring-json", "--json")
    assert shown == await paused.json()
    before = await contents(app)
    for change, says in (
        (
            {"channel": "sms", "sms_body": "Hi", "ivr_optout_digit": None, "ivr_prompt": None},
            "channel",
        ),
        ({"name": "renamed"}, "name"),
        ({"retry": {"NO_ANSWER": "4h"}}, "BUSY"),
    ):
        refused = await api.patch(path, json=change, headers=as_(api, MANAGER))
        assert says in (await problem(refused, 422, "invalid_definition"))["detail"]
    whole = await api.patch(path, data=EXAMPLE, headers={**as_(api, MANAGER), **TOML})
    assert "name" in (await problem(whole, 422, "invalid_definition"))["detail"]
    assert await contents(app) == before

    assert (await (await act(api, "spring-json", "resume")).json())["state"] == "running"
    assert (await (await act(api, "spring-json", "stop")).json())["state"] == "stopped"
    await problem(await act(api, "spring-json", "start"), 409, "invalid_transition")
    await problem(await act(api, "spring-json", "launch"), 404, "not_found")


async def test_a_draft_takes_a_whole_toml_definition(app, company, api):
    await create(api, EXAMPLE)

    changed = await api.patch(
        "/api/v1/campaigns/spring-calls",
        data=EXAMPLE.replace("max_concurrent = 20", "max_concurrent = 7"),
        headers={**as_(api, MANAGER), **TOML},
    )

    assert changed.status == 200, await changed.text()
    assert (await changed.json())["max_concurrent"] == 7
    assert "# A voice campaign" in (await changed.json())["definition"]


# --- eligibility --------------------------------------------------------------------------


async def test_eligibility_screens_the_queue_and_changes_nothing(app, company, api):
    await dnc.add_numbers(app, Caller("acme"), ["+13055550118"], DncList.DNC, reason="asked")
    await create(api)
    await act(api, "spring-json", "start")
    at = next_tuesday_1500()
    before = await contents(app)

    response = await api.get(
        f"/api/v1/campaigns/spring-json/eligibility?at={quote(at.isoformat())}",
        headers=as_(api, VIEWER),
    )

    assert response.status == 200, await response.text()
    found = await response.json()
    assert await contents(app) == before
    assert (found["due"], found["callable"], found["permanent"]) == (3, 1, 1)
    assert found["skipped"] == {"COMPANY_DNC": 1, "OUTSIDE_CALLING_HOURS": 1}
    waits_until = found["next_eligible_by_reason"]["OUTSIDE_CALLING_HOURS"]
    assert found["next_eligible_by_reason"]["COMPANY_DNC"] is None
    assert found["next_eligible_at"] == waits_until
    in_honolulu = datetime.fromisoformat(waits_until).astimezone(ZoneInfo("Pacific/Honolulu"))
    assert in_honolulu.date() == at.date()
    assert in_honolulu.hour >= 8
    # The dry run of one attempt says the same of the Hawaiian lead.
    checked = await api.post(
        "/api/v1/check",
        json={"number": "808 555 0119", "lead": "HI1", "campaign": "spring-json", "at": str(at)},
        headers=as_(api, VIEWER),
    )
    assert (await checked.json())["next_eligible_at"] == waits_until
    assert (found["not_due"], found["in_flight"]) == (0, 0)

    earlier = await api.get(
        f"/api/v1/campaigns/spring-json/eligibility?at={quote('2026-01-01T00:00:00Z')}",
        headers=as_(api, VIEWER),
    )
    assert (await earlier.json())["due"] == 0  # queued later than that


# --- statuses -----------------------------------------------------------------------------


async def test_the_statuses_read_and_load_as_the_cli_s(app, company, api, dialer):
    shown = await (await api.get("/api/v1/statuses", headers=as_(api, VIEWER))).json()
    assert shown == await cli_json(dialer, "statuses", "list", "--json")

    again = await api.put("/api/v1/statuses", json=shown, headers=as_(api, MANAGER))
    assert again.status == 200, await again.text()
    assert await again.json() == shown

    example = Path(__file__).parent.parent / "config" / "examples" / "statuses.toml"
    loaded = await api.put(
        "/api/v1/statuses", data=example.read_text(), headers={**as_(api, MANAGER), **TOML}
    )
    assert loaded.status == 200, await loaded.text()
    assert await loaded.json() == await cli_json(dialer, "statuses", "list", "--json")
    assert await loaded.json() != shown


async def test_a_book_a_running_campaign_cannot_run_with_is_refused(app, company, api):
    await create(api)
    await act(api, "spring-json", "start")
    book = await (await api.get("/api/v1/statuses", headers=as_(api, VIEWER))).json()
    for status in book["statuses"]:
        if status["code"] == "BUSY":
            status["final"] = True
    before = await contents(app)

    refused = await api.put("/api/v1/statuses", json=book, headers=as_(api, MANAGER))

    found = await problem(refused, 422, "invalid_definition")
    assert "spring-json" in found["detail"]
    assert await contents(app) == before
    for bad in ({"statuses": [{"label": "no code"}], "map": []}, {"statuses": []}):
        await problem(
            await api.put("/api/v1/statuses", json=bad, headers=as_(api, MANAGER)),
            422,
            "validation_failed",
        )
    unparsable = await api.put(
        "/api/v1/statuses", data="[[status", headers={**as_(api, MANAGER), **TOML}
    )
    await problem(unparsable, 422, "invalid_definition")
    assert await contents(app) == before


# --- who may ------------------------------------------------------------------------------


async def test_a_viewer_reads_campaigns_and_statuses_but_changes_none(app, company, api):
    book = await (await api.get("/api/v1/statuses", headers=as_(api, VIEWER))).json()
    await create(api, EXAMPLE, user=ADMIN)
    changes = [
        ("post", "/api/v1/campaigns", FIELDS),
        ("patch", "/api/v1/campaigns/spring-calls", {"max_concurrent": 3}),
        ("post", "/api/v1/campaigns/spring-calls/start", None),
        ("put", "/api/v1/statuses", book),
    ]
    for method, path, body in changes:
        before = await contents(app)
        refused = await getattr(api, method)(path, json=body, headers=as_(api, VIEWER))
        await problem(refused, 403, "not_permitted")
        assert await contents(app) == before
        allowed = await getattr(api, method)(path, json=body, headers=as_(api, MANAGER))
        assert allowed.status in (200, 201), await allowed.text()
    for what in ("", "/report", "/eligibility"):
        shown = await api.get(f"/api/v1/campaigns/spring-calls{what}", headers=as_(api, VIEWER))
        assert shown.status == 200, await shown.text()


async def test_another_company_s_campaigns_are_not_found(app, company, api):
    await create(api, EXAMPLE)
    before = await contents(app)

    for method, path, body in [
        ("get", "/api/v1/campaigns/spring-calls", None),
        ("get", "/api/v1/campaigns/spring-calls/report", None),
        ("get", "/api/v1/campaigns/spring-calls/eligibility", None),
        ("patch", "/api/v1/campaigns/spring-calls", {"max_concurrent": 3}),
        ("post", "/api/v1/campaigns/spring-calls/start", None),
    ]:
        response = await getattr(api, method)(path, json=body, headers=as_(api, OUTSIDER))
        await problem(response, 404, "not_found")

    listed = await api.get("/api/v1/campaigns", headers=as_(api, OUTSIDER))
    assert (await listed.json())["data"] == []
    assert await contents(app) == before


@pytest.mark.parametrize(
    "text", ['quote " and \\ backslash', "tab\tnew\nline", "\x00\x1f\x7f", "é 😀 \u2028", "'"]
)
def test_json_fields_become_toml_that_reads_back_the_same(text):
    fields = {"name": text, "n": -3, "x": 0.5, "on": True, "a": [1, "b"], text: {"k": text}}

    assert tomllib.loads(tomltext.dumps(fields)) == fields
