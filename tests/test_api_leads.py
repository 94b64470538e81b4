"""The leads endpoints on a real server and both databases: the CLI's JSON shapes, roles,
another company's leads, bad payloads and cursor pages."""

from __future__ import annotations

import aiohttp
import openpyxl
import pytest

from dialer.api import uploads
from tests.api_support import as_, cli_json, staffed
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, VIEWER, contents
from tests.test_api import problem

LEADS = [
    {"phone": "(305) 555-0117", "external_id": "L1", "state": "FL", "first_name": "Ann"},
    {"phone": "212.555.0123", "external_id": "L2", "state": "NY"},
    {"phone": "+1 305 555 0104", "external_id": "L3"},
    {"phone": "305-555-0105"},
    {"phone": "305-555-0106", "email": "bo@example.com"},
]


@pytest.fixture
async def api(app, company):
    async with staffed(app, company) as client:
        yield client


async def push(api, leads=LEADS, lead_list="spring", user=MANAGER):
    response = await api.post(
        "/api/v1/leads", json={"list": lead_list, "leads": leads}, headers=as_(api, user)
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def ids_of(api) -> dict[str | None, int]:
    response = await api.get("/api/v1/leads", headers=as_(api, VIEWER))
    return {lead["external_id"]: lead["id"] for lead in (await response.json())["data"]}


# --- the shapes --------------------------------------------------------------------------


async def test_a_batch_imports_as_a_file_does(app, company, api, dialer, tmp_path):
    imported = await push(api, [*LEADS, {"phone": "not a number"}, {"phone": "305 555 0117"}])

    assert imported["read"] == 7
    assert (imported["added"], imported["invalid_count"], imported["duplicate_count"]) == (5, 1, 1)
    assert imported["invalid"][0]["row"] == 6
    assert imported["duplicates"][0]["row"] == 7
    csv = tmp_path / "same.csv"
    csv.write_text("phone\nnot a number\n")
    by_cli = await cli_json(dialer, "leads", "import", str(csv), "--list", "x", "--json")
    assert by_cli.keys() == imported.keys()
    assert by_cli["invalid"][0]["error"] == imported["invalid"][0]["error"]


async def test_a_lead_reads_as_leads_show_shows_it(app, company, api, dialer):
    await push(api)
    ids = await ids_of(api)
    put = await api.put(
        f"/api/v1/leads/{ids['L1']}/dnc",
        json={"channels": ["sms", "phone"], "reason": "asked"},
        headers=as_(api, MANAGER),
    )
    assert await put.json() == {"lead_id": ids["L1"], "channels": ["phone", "sms"]}

    response = await api.get(f"/api/v1/leads/{ids['L1']}", headers=as_(api, VIEWER))

    assert response.status == 200
    shown = await response.json()
    assert shown == await cli_json(dialer, "leads", "show", "L1", "--json")
    assert shown["phone"] == "+13055550117"
    assert shown["dnc"]["channels"] == ["phone", "sms"]
    assert shown["dnc"]["updated_by"] == MANAGER


async def test_leads_are_listed_by_number_external_id_and_list_a_page_at_a_time(app, company, api):
    await push(api)
    await push(api, [{"phone": "305-555-0117", "external_id": "A1"}], lead_list="autumn")

    seen, url = [], "/api/v1/leads?limit=2"
    while url:
        page = await (await api.get(url, headers=as_(api, VIEWER))).json()
        assert len(page["data"]) <= 2
        seen += [lead["id"] for lead in page["data"]]
        url = page["next_url"]
    assert len(seen) == len(set(seen)) == 6
    assert seen == sorted(seen)

    async def found(query: str) -> list[str | None]:
        response = await api.get(f"/api/v1/leads?{query}", headers=as_(api, VIEWER))
        assert response.status == 200, await response.text()
        return [lead["external_id"] for lead in (await response.json())["data"]]

    assert await found("number=%28305%29%20555-0117") == ["L1", "A1"]
    assert await found("number=%2B13055550117&list=autumn") == ["A1"]
    assert await found("external_id=L2") == ["L2"]
    assert len(await found("list=spring")) == 5
    bad = await api.get("/api/v1/leads?number=abc", headers=as_(api, VIEWER))
    await problem(bad, 422, "invalid_number")


async def test_a_lead_s_attempts_and_skips_come_a_page_at_a_time(app, company, api, engine):
    from tests.test_reporting import seed

    seeded = await seed(engine, company)
    lead = seeded.leads["L1"]

    async def walk(what: str) -> list[dict]:
        items, url = [], f"/api/v1/leads/{lead}/{what}?limit=1"
        while url:
            response = await api.get(url, headers=as_(api, VIEWER))
            assert response.status == 200, await response.text()
            page = await response.json()
            items += page["data"]
            url = page["next_url"]
        return items

    attempts = await walk("attempts")
    assert [row["id"] for row in attempts] == sorted(
        seeded.attempts[name] for name in ("a1", "a2", "a6")
    )
    assert {row["number"] for row in attempts} == {"+13055550101"}
    skipped = await walk("skips")
    assert [(row["campaign"], row["reason"]) for row in skipped] == [("autumn", "MAX_ATTEMPTS")]


# --- edits -------------------------------------------------------------------------------


async def test_a_manager_edits_a_lead_and_its_number(app, company, api, dialer):
    await push(api)
    ids = await ids_of(api)
    change = {
        "first_name": " Bea ",
        "state": "co",
        "timezone": "America/Denver",
        "status": "callback",
        "phone": "(720) 555-0199",
    }

    response = await api.patch(f"/api/v1/leads/{ids['L2']}", json=change, headers=as_(api, MANAGER))

    assert response.status == 200, await response.text()
    edited = await response.json()
    assert (edited["first_name"], edited["state"], edited["status"]) == ("Bea", "CO", "callback")
    assert (edited["phone"], edited["phone_raw"]) == ("+17205550199", "(720) 555-0199")
    shown = await cli_json(dialer, "leads", "show", "L2", "--json")
    assert {key: shown[key] for key in edited} == edited


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"state": "XX"}, 422, "invalid_lead"),
        ({"timezone": "Mars/Olympus"}, 422, "invalid_lead"),
        ({"email": "nobody"}, 422, "invalid_lead"),
        ({"phone": "12"}, 422, "invalid_lead"),
        ({"phone": "305 555 0117"}, 409, "number_taken"),  # L1's, in the same list
        ({"status": ""}, 422, "validation_failed"),
        ({"nickname": "B"}, 422, "validation_failed"),
        ({"first_name": None}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
    ],
)
async def test_a_bad_edit_is_refused_and_changes_nothing(app, company, api, change, status, code):
    await push(api)
    ids = await ids_of(api)
    before = await contents(app)

    response = await api.patch(f"/api/v1/leads/{ids['L2']}", json=change, headers=as_(api, ADMIN))

    body = await problem(response, status, code)
    if code == "invalid_lead":
        assert next(iter(change)) in body["detail"]
    assert await contents(app) == before


@pytest.mark.parametrize(
    "body",
    [
        {"list": "spring", "leads": []},
        {"list": "spring", "leads": [{"first_name": "no phone"}]},
        {"list": "", "leads": [{"phone": "305-555-0199"}]},
        {"leads": [{"phone": 3055550199}]},
        {"leads": [{"phone": "305-555-0199", "colour": "red"}]},
    ],
)
async def test_a_bad_batch_is_refused_naming_its_field(app, company, api, body):
    before = await contents(app)

    response = await api.post("/api/v1/leads", json=body, headers=as_(api, MANAGER))

    found = await problem(response, 422, "validation_failed")
    assert found["errors"]
    assert await contents(app) == before


async def test_malformed_bodies_are_refused(app, company, api):
    await push(api)
    ids = await ids_of(api)
    before = await contents(app)
    headers = {**as_(api, MANAGER), "Content-Type": "application/json"}

    broken = await api.post("/api/v1/leads", data=b"{not json", headers=headers)
    await problem(broken, 400, "malformed_json")
    texted = await api.patch(
        f"/api/v1/leads/{ids['L1']}", data="state=CO", headers=as_(api, MANAGER)
    )
    await problem(texted, 415, "unsupported_media_type")
    huge = {"leads": [{"phone": "305-555-0199", "first_name": "x" * 200}] * 400}
    await problem(
        await api.post("/api/v1/leads", json=huge, headers=headers), 413, "payload_too_large"
    )
    channel = await api.put(
        f"/api/v1/leads/{ids['L1']}/dnc", json={"channels": ["fax"]}, headers=headers
    )
    await problem(channel, 422, "validation_failed")
    assert await contents(app) == before


# --- who may ------------------------------------------------------------------------------


def changes(ids):
    lead = ids["L1"]
    return [
        ("post", "/api/v1/leads", {"list": "spring", "leads": [{"phone": "305-555-0190"}]}),
        ("patch", f"/api/v1/leads/{lead}", {"status": "callback"}),
        ("put", f"/api/v1/leads/{lead}/dnc", {"channels": ["sms"]}),
    ]


async def test_a_viewer_reads_but_changes_no_lead(app, company, api):
    await push(api)
    ids = await ids_of(api)
    for method, path, body in changes(ids):
        before = await contents(app)

        refused = await getattr(api, method)(path, json=body, headers=as_(api, VIEWER))

        await problem(refused, 403, "not_permitted")
        assert await contents(app) == before
        allowed = await getattr(api, method)(path, json=body, headers=as_(api, MANAGER))
        assert allowed.status == 200, await allowed.text()
    for path in (f"/api/v1/leads/{ids['L1']}", f"/api/v1/leads/{ids['L1']}/attempts"):
        assert (await api.get(path, headers=as_(api, VIEWER))).status == 200


async def test_another_company_s_leads_are_not_found(app, company, api):
    await push(api)
    ids = await ids_of(api)
    lead = ids["L1"]
    before = await contents(app)

    for method, path, body in changes(ids)[1:]:
        response = await getattr(api, method)(path, json=body, headers=as_(api, OUTSIDER))
        await problem(response, 404, "not_found")
    for what in ("", "/attempts", "/skips"):
        response = await api.get(f"/api/v1/leads/{lead}{what}", headers=as_(api, OUTSIDER))
        await problem(response, 404, "not_found")
    listed = await api.get("/api/v1/leads?external_id=L1", headers=as_(api, OUTSIDER))
    assert (await listed.json())["data"] == []
    assert await contents(app) == before


# --- uploads -------------------------------------------------------------------------------

LEAD_FILE = "Phone,First Name,State\n(305) 555-0117,Ann,FL\n212.555.0123,Bo,NY\nnope,Cy,\n"


def form(content: bytes | str, name: str = "leads.csv", **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in fields.items():
        data.add_field(key, value)
    data.add_field("file", content, filename=name, content_type="text/csv")
    return data


async def test_an_uploaded_file_imports_as_leads_import_does(app, company, api, dialer, tmp_path):
    response = await api.post(
        "/api/v1/leads/imports", data=form(LEAD_FILE, list="spring"), headers=as_(api, MANAGER)
    )

    assert response.status == 200, await response.text()
    uploaded = await response.json()
    path = tmp_path / "leads.csv"
    path.write_text(LEAD_FILE)
    command = ("leads", "import", str(path), "--list", "autumn", "--json")
    assert uploaded == await cli_json(dialer, *command)
    assert (uploaded["added"], uploaded["invalid_count"]) == (2, 1)
    listed = await (await api.get("/api/v1/leads?list=spring", headers=as_(api, VIEWER))).json()
    assert [lead["first_name"] for lead in listed["data"]] == ["Ann", "Bo"]


async def test_a_workbook_uploads_too(app, company, api, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["phone", "first_name"])
    book.active.append(["305 555 0117", "Ann"])
    book.save(tmp_path / "leads.xlsx")

    response = await api.post(
        "/api/v1/leads/imports",
        data=form((tmp_path / "leads.xlsx").read_bytes(), "leads.xlsx"),
        headers=as_(api, MANAGER),
    )

    assert response.status == 200, await response.text()
    assert (await response.json())["added"] == 1
    listed = await (await api.get("/api/v1/leads?list=default", headers=as_(api, VIEWER))).json()
    assert [lead["first_name"] for lead in listed["data"]] == ["Ann"]


async def test_a_bad_upload_is_refused_and_changes_nothing(app, company, api, monkeypatch):
    before = await contents(app)
    path = "/api/v1/leads/imports"

    viewer = await api.post(path, data=form(LEAD_FILE), headers=as_(api, VIEWER))
    await problem(viewer, 403, "not_permitted")
    as_json = await api.post(path, json={"file": LEAD_FILE}, headers=as_(api, MANAGER))
    await problem(as_json, 415, "unsupported_media_type")
    no_file = aiohttp.FormData({"list": "spring"}, default_to_multipart=True)
    await problem(
        await api.post(path, data=no_file, headers=as_(api, MANAGER)), 422, "validation_failed"
    )
    extra = await api.post(path, data=form(LEAD_FILE, colour="red"), headers=as_(api, MANAGER))
    await problem(extra, 422, "validation_failed")
    garbage = await api.post(
        path, data=form(b"PK\x03\x04 not a workbook", "leads.xlsx"), headers=as_(api, MANAGER)
    )
    assert "leads.xlsx" in (await problem(garbage, 422, "unreadable_file"))["detail"]
    monkeypatch.setattr(uploads, "MAX_UPLOAD", 20)
    big = await api.post(path, data=form(LEAD_FILE), headers=as_(api, MANAGER))
    await problem(big, 413, "payload_too_large")
    assert await contents(app) == before
