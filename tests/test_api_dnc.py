"""The DNC and DNT lists through the REST API, on a real server and both databases: every
endpoint, roles, companies kept apart, bad payloads and uploads refused with nothing
changed, and the same answers as the `dialer dnc` commands."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import select

from compliance import Company, DncList, Role, accounts
from compliance.tables import dnc_entries, dnc_events
from dialer.api import uploads
from dialer.app import App
from dialer.services import Caller
from dialer.services import dnc as dnc_service
from dialer.services import tokens as token_service
from tests.support import NOW
from tests.test_api import PROBLEM, bearer, problem, served

NUMBER = "+13055550134"


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


async def token_for(
    app: App, company: Company, name: str, role: Role = Role.ADMIN, can_remove: bool = False
) -> dict[str, str]:
    """The Authorization header of a new user's token."""
    async with app.transaction() as conn:
        await accounts.add_user(conn, company, name, role, can_remove, NOW)
    return bearer((await token_service.create(app, Caller(company.name), name)).text)


async def rows(app: App) -> tuple[list, list]:
    """Every DNC entry and audit event, to show that a refused request changed nothing."""
    async with app.snapshot() as conn:
        entries = (await conn.execute(select(dnc_entries).order_by(*dnc_entries.c))).all()
        events = (await conn.execute(select(dnc_events).order_by(dnc_events.c.id))).all()
    return entries, events


async def add(api, headers, numbers, **fields) -> aiohttp.ClientResponse:
    return await api.post("/api/v1/dnc", json={"numbers": numbers, **fields}, headers=headers)


def upload_form(content: bytes, name: str = "list.csv", **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", content, filename=name, content_type="application/octet-stream")
    return form


@pytest.fixture
def upload_folder(tmp_path, monkeypatch) -> Path:
    """Where uploads are received: empty again once each request has ended."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- the happy paths --------------------------------------------------------------------


async def test_numbers_are_added_shown_and_removed(app, company, api):
    headers = await token_for(app, company, "ann")

    first = await add(api, headers, ["(305) 555-0134", "212.555.0123"], reason="asked")
    again = await add(api, headers, ["305 555 0134"])

    assert first.status == 201
    assert await first.json() == {"added": ["+12125550123", NUMBER], "already_listed": []}
    assert again.status == 200
    assert await again.json() == {"added": [], "already_listed": [NUMBER]}

    shown = await api.get(f"/api/v1/dnc/{quote('(305) 555-0134')}", headers=headers)
    assert shown.status == 200
    record = await shown.json()
    assert record["number"] == NUMBER
    [entry] = record["entries"]
    assert (entry["list"], entry["source"], entry["reason"]) == ("dnc", "api", "asked")
    assert entry["added_by"] == "ann"
    assert entry["expires_at"] is None
    assert [event["action"] for event in record["history"]] == ["add"]
    assert record["more_history"] is False

    removed = await api.delete(
        f"/api/v1/dnc/{quote('+1 305 555 0134')}?list=dnc&reason=consented", headers=headers
    )
    assert removed.status == 204
    after = await (await api.get(f"/api/v1/dnc/{NUMBER}", headers=headers)).json()
    assert after["entries"] == []
    assert [(e["action"], e["actor"], e["reason"]) for e in after["history"]] == [
        ("add", "ann", "asked"),
        ("remove", "ann", "consented"),
    ]
    gone = await api.delete(f"/api/v1/dnc/{NUMBER}?reason=again", headers=headers)
    await problem(gone, 404, "not_found")
    never = await api.get("/api/v1/dnc/2125550199", headers=headers)
    await problem(never, 404, "not_found")


async def test_an_expiring_addition_on_the_dnt_list(app, company, api):
    headers = await token_for(app, company, "ann")

    response = await add(api, headers, [NUMBER], list="dnt", expires_at="2099-01-01T00:00:00-05:00")

    assert response.status == 201
    [entry] = (await (await api.get("/api/v1/dnc?list=dnt", headers=headers)).json())["data"]
    assert entry["list"] == "dnt"
    assert entry["expires_at"] == "2099-01-01T05:00:00+00:00"
    assert (await (await api.get("/api/v1/dnc?list=dnc", headers=headers)).json())["data"] == []


async def test_entries_are_listed_in_cursor_pages_with_filters(app, company, api):
    headers = await token_for(app, company, "ann")
    numbers = [f"+1212555{index:04d}" for index in range(5)]
    await add(api, headers, numbers)
    await add(api, headers, numbers[:2], list="dnt")
    await dnc_service.add_numbers(app, Caller("acme"), ["+13055550100"], DncList.DNC)

    seen, url, pages = [], "/api/v1/dnc?limit=3", 0
    while url:
        page = await (await api.get(url, headers=headers)).json()
        seen += [(entry["number"], entry["list"]) for entry in page["data"]]
        url, pages = page["next_url"], pages + 1
    assert seen == [
        (numbers[0], "dnc"),
        (numbers[0], "dnt"),
        (numbers[1], "dnc"),
        (numbers[1], "dnt"),
        *((number, "dnc") for number in numbers[2:]),
        ("+13055550100", "dnc"),
    ]
    assert pages == 3

    async def listed(query: str) -> list[tuple[str, str]]:
        response = await api.get(f"/api/v1/dnc?{query}", headers=headers)
        assert response.status == 200, await response.text()
        return [(entry["number"], entry["list"]) for entry in (await response.json())["data"]]

    assert await listed("list=dnt") == [(numbers[0], "dnt"), (numbers[1], "dnt")]
    assert await listed(f"number={quote('(212) 555-0001')}") == [
        (numbers[1], "dnc"),
        (numbers[1], "dnt"),
    ]
    assert await listed("source=manual") == [("+13055550100", "dnc")]
    assert await listed(f"added_after={quote('2099-01-01T00:00:00Z')}") == []
    assert len(await listed(f"added_after={quote('2000-01-01T00:00:00Z')}")) == 8
    following = await api.get("/api/v1/dnc?list=dnt&limit=1", headers=headers)
    next_url = (await following.json())["next_url"]
    assert await listed(next_url.split("?", 1)[1]) == [(numbers[1], "dnt")]

    for query in ("cursor=YWZ0ZXI6Nw", "cursor=nonsense"):
        await problem(await api.get(f"/api/v1/dnc?{query}", headers=headers), 400, "invalid_cursor")
    await problem(await api.get("/api/v1/dnc?list=spam", headers=headers), 400, "validation_failed")
    await problem(
        await api.get("/api/v1/dnc?number=banana", headers=headers), 422, "invalid_number"
    )


async def test_check_answers_what_the_cli_prints(app, company, api, dialer):
    await dnc_service.add_numbers(app, Caller("default"), [NUMBER], DncList.DNT)
    await dnc_service.add_numbers(app, Caller("default"), ["+12125550123"], DncList.DNC)
    default = await _company(app, "default")
    headers = await token_for(app, default, "ann", Role.VIEWER)
    inputs = [NUMBER, "212-555-0123", "2125550199", "not a number"]

    for channel in ("voice", "sms"):
        response = await api.post(
            "/api/v1/dnc/check", json={"numbers": inputs, "channel": channel}, headers=headers
        )
        assert response.status == 200
        printed = await asyncio.to_thread(
            dialer, "dnc", "check", *inputs, "--channel", channel, "--json"
        )
        assert (await response.json())["data"] == json.loads(printed.stdout)

    many = [f"+1212555{index:04d}" for index in range(1000)]
    full = await api.post("/api/v1/dnc/check", json={"numbers": many}, headers=headers)
    assert len((await full.json())["data"]) == 1000
    too_many = await api.post(
        "/api/v1/dnc/check", json={"numbers": [*many, NUMBER]}, headers=headers
    )
    body = await problem(too_many, 422, "validation_failed")
    assert body["errors"][0]["field"] == "numbers"


async def _company(app: App, name: str) -> Company:
    async with app.transaction() as conn:
        found, _ = await accounts.ensure_company(conn, name, NOW)
    return found


async def test_an_upload_answers_what_dialer_dnc_import_prints(
    app, api, dialer, tmp_path, upload_folder
):
    default = await _company(app, "default")
    headers = await token_for(app, default, "mia", Role.MANAGER)
    sheet = tmp_path / "leads list.csv"
    sheet.write_text("phone\n305-555-0134\n(212) 555-0123\nnonsense\n3055550134\n\n")
    await dnc_service.add_numbers(app, Caller("default"), ["+12125550123"], DncList.DNC)
    await dnc_service.add_numbers(app, Caller("default"), ["+12125550123"], DncList.DNT)

    response = await api.post(
        "/api/v1/dnc/imports", data=upload_form(sheet.read_bytes(), sheet.name), headers=headers
    )

    assert response.status == 200, await response.text()
    summary = await response.json()
    printed = await asyncio.to_thread(
        dialer, "dnc", "import", str(sheet), "--list", "dnt", "--json"
    )
    assert summary == json.loads(printed.stdout)
    assert (summary["read"], summary["added"], summary["already_listed"]) == (4, 1, 1)
    assert summary["duplicates_in_file"] == 1
    assert summary["invalid"] == [
        {"row": 4, "value": "nonsense", "error": summary["invalid"][0]["error"]}
    ]
    record = await (await api.get(f"/api/v1/dnc/{NUMBER}", headers=headers)).json()
    assert [(entry["list"], entry["source"]) for entry in record["entries"]] == [
        ("dnc", "upload"),
        ("dnt", "upload"),
    ]
    assert record["entries"][0]["reason"] == "upload of leads list.csv"
    assert record["entries"][0]["added_by"] == "mia"
    assert list(upload_folder.iterdir()) == []


async def test_an_upload_takes_its_list_reason_and_expiry_from_the_form(
    app, company, api, upload_folder
):
    headers = await token_for(app, company, "ann")
    form = upload_form(
        b"3055550134\n", list="dnt", reason="vendor file", expires_at="2099-01-01T00:00:00Z"
    )

    response = await api.post("/api/v1/dnc/imports", data=form, headers=headers)

    assert (await response.json())["added"] == 1
    [entry] = (await (await api.get("/api/v1/dnc", headers=headers)).json())["data"]
    assert (entry["list"], entry["reason"]) == ("dnt", "vendor file")
    assert entry["expires_at"] == "2099-01-01T00:00:00+00:00"


async def test_export_is_the_cli_export_and_formula_safe(app, api, dialer):
    default = await _company(app, "default")
    headers = await token_for(app, default, "vic", Role.VIEWER)
    formula = '=HYPERLINK("http://evil.example/","click")'
    await dnc_service.add_numbers(app, Caller("default"), [NUMBER], DncList.DNC, reason=formula)
    await dnc_service.add_numbers(app, Caller("default"), ["+12125550123"], DncList.DNT)

    response = await api.get("/api/v1/dnc/export", headers=headers)

    assert response.status == 200
    assert response.content_type == "text/csv"
    text = await response.text()
    assert text.replace("\r\n", "\n") == (await asyncio.to_thread(dialer, "dnc", "export")).stdout
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(row["number"], row["list"]) for row in exported] == [
        (NUMBER, "dnc"),
        ("+12125550123", "dnt"),
    ]
    assert exported[0]["reason"] == "'" + formula
    only_dnt = await (await api.get("/api/v1/dnc/export?list=dnt", headers=headers)).text()
    printed = await asyncio.to_thread(dialer, "dnc", "export", "--list", "dnt")
    # click's result reads the CSV's \r\n as \n
    assert only_dnt.replace("\r\n", "\n") == printed.stdout


async def test_the_audit_trail_is_paged_oldest_first(app, company, api):
    headers = await token_for(app, company, "ann", can_remove=True)
    await add(api, headers, [NUMBER, "+12125550123"], reason="asked")
    await api.delete(f"/api/v1/dnc/{NUMBER}?reason=consented", headers=headers)

    seen, url = [], "/api/v1/dnc/events?limit=2"
    while url:
        page = await (await api.get(url, headers=headers)).json()
        seen += [(event["action"], event["number"]) for event in page["data"]]
        url = page["next_url"]
    assert seen == [("add", "+12125550123"), ("add", NUMBER), ("remove", NUMBER)]
    one = await api.get(f"/api/v1/dnc/events?number={quote('(305) 555-0134')}", headers=headers)
    assert [event["action"] for event in (await one.json())["data"]] == ["add", "remove"]
    ids = [event["id"] for event in (await one.json())["data"]]
    assert ids == sorted(ids)


# --- roles ------------------------------------------------------------------------------


async def test_a_viewer_reads_but_changes_nothing(app, company, api, upload_folder):
    admin = await token_for(app, company, "ann")
    await add(api, admin, [NUMBER])
    viewer = await token_for(app, company, "vic", Role.VIEWER)
    before = await rows(app)

    for response in (
        await api.get("/api/v1/dnc", headers=viewer),
        await api.get(f"/api/v1/dnc/{NUMBER}", headers=viewer),
        await api.get("/api/v1/dnc/events", headers=viewer),
        await api.get("/api/v1/dnc/export", headers=viewer),
        await api.post("/api/v1/dnc/check", json={"numbers": [NUMBER]}, headers=viewer),
    ):
        assert response.status == 200
    refused = [
        await add(api, viewer, ["+12125550123"]),
        await api.post("/api/v1/dnc/imports", data=upload_form(b"2125550123\n"), headers=viewer),
        await api.delete(f"/api/v1/dnc/{NUMBER}?reason=asked", headers=viewer),
    ]
    for response in refused:
        await problem(response, 403, "not_permitted")
    assert await rows(app) == before
    assert list(upload_folder.iterdir()) == []


async def test_only_a_user_who_may_remove_removes(app, company, api):
    admin = await token_for(app, company, "ann")
    await add(api, admin, [NUMBER])
    manager = await token_for(app, company, "mia", Role.MANAGER)
    remover = await token_for(app, company, "rob", Role.MANAGER, can_remove=True)
    before = await rows(app)

    await problem(
        await api.delete(f"/api/v1/dnc/{NUMBER}?reason=asked", headers=manager),
        403,
        "not_permitted",
    )
    for query in ("", "?reason=", "?reason=%20%20"):
        response = await api.delete(f"/api/v1/dnc/{NUMBER}{query}", headers=remover)
        await problem(response, 422, "reason_required")
    await problem(
        await api.delete("/api/v1/dnc/banana1?reason=asked", headers=remover),
        422,
        "invalid_number",
    )
    nul = await api.delete(f"/api/v1/dnc/{NUMBER}?reason=a%00b", headers=remover)
    await problem(nul, 400, "validation_failed")
    assert await rows(app) == before

    assert (await api.delete(f"/api/v1/dnc/{NUMBER}?reason=asked", headers=remover)).status == 204
    [event] = (await rows(app))[1][1:]
    assert (event.action, event.actor, event.reason) == ("remove", "rob", "asked")


async def test_another_companys_lists_are_never_seen(app, company, api):
    bravo = await _company(app, "bravo")
    theirs = await token_for(app, bravo, "bob")
    await add(api, theirs, [NUMBER], reason="bravo's")
    ours = await token_for(app, company, "ann")
    before = await rows(app)

    await problem(await api.get(f"/api/v1/dnc/{NUMBER}", headers=ours), 404, "not_found")
    removal = await api.delete(f"/api/v1/dnc/{NUMBER}?reason=x", headers=ours)
    await problem(removal, 404, "not_found")
    assert (await (await api.get("/api/v1/dnc", headers=ours)).json())["data"] == []
    assert (await (await api.get("/api/v1/dnc/events", headers=ours)).json())["data"] == []
    export = await (await api.get("/api/v1/dnc/export", headers=ours)).text()
    assert NUMBER not in export
    check = await api.post("/api/v1/dnc/check", json={"numbers": [NUMBER]}, headers=ours)
    assert (await check.json())["data"][0]["blocked"] is False
    assert await rows(app) == before
    mine = await api.get(f"/api/v1/dnc/{NUMBER}", headers=theirs)
    assert (await mine.json())["entries"][0]["reason"] == "bravo's"


# --- bad requests -----------------------------------------------------------------------


async def test_one_invalid_number_refuses_the_whole_addition(app, company, api):
    headers = await token_for(app, company, "ann")
    before = await rows(app)

    response = await add(api, headers, [NUMBER, "555-01", "call me at 2125550128"])

    body = await problem(response, 422, "invalid_number")
    assert "555-01" in body["detail"]
    assert "call me at 2125550128" in body["detail"]
    assert await rows(app) == before


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/dnc", {"numbers": "3055550134"}, "numbers"),
        ("/api/v1/dnc", {"numbers": [3055550134]}, "numbers.0"),
        ("/api/v1/dnc", {"numbers": []}, "numbers"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "list": "spam"}, "list"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "list_name": "dnc"}, "list_name"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "reason": 7}, "reason"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "reason": "a\x00b"}, "reason"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ("/api/v1/dnc", {"numbers": [NUMBER], "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ("/api/v1/dnc", {"numbers": [NUMBER] * 1001}, "numbers"),
        ("/api/v1/dnc/check", {"numbers": [NUMBER], "channel": "email"}, "channel"),
        ("/api/v1/dnc/check", {"numbers": None}, "numbers"),
        ("/api/v1/dnc/check", [NUMBER], "body"),
    ],
)
async def test_a_bad_payload_is_refused_field_by_field(app, company, api, path, payload, field):
    headers = await token_for(app, company, "ann")
    before = await rows(app)

    body = await problem(
        await api.post(path, json=payload, headers=headers), 422, "validation_failed"
    )

    assert field in {error["field"] for error in body["errors"]}
    assert await rows(app) == before


async def test_malformed_or_huge_json_is_refused(app, company, api):
    headers = {**await token_for(app, company, "ann"), "Content-Type": "application/json"}
    before = await rows(app)

    for path in ("/api/v1/dnc", "/api/v1/dnc/check"):
        malformed = await api.post(path, data=b'{"numbers": [', headers=headers)
        await problem(malformed, 400, "malformed_json")
        huge = json.dumps({"numbers": ["3055550134" * 10] * 1000})
        await problem(await api.post(path, data=huge, headers=headers), 413, "payload_too_large")
    assert await rows(app) == before


async def test_a_retried_addition_gets_the_first_answer(app, company, api):
    headers = {**await token_for(app, company, "ann"), "Idempotency-Key": "crm-42"}

    first = await add(api, headers, ["305-555-0134"])
    entries_after_first = await rows(app)
    again = await add(api, headers, ["305-555-0134"])

    assert first.status == again.status == 201
    assert await again.json() == await first.json() == {"added": [NUMBER], "already_listed": []}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await rows(app) == entries_after_first
    other = await add(api, headers, ["212-555-0123"])
    await problem(other, 422, "idempotency_key_reused")


def _broken_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<not a workbook")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"PK\x03\x04" + b"\x00" * 200, id="truncated zip"),
        pytest.param(_broken_workbook(), id="broken xlsx"),
        pytest.param(b"\x00\x01\x02binary\xff\xfe", id="binary"),
    ],
)
async def test_a_broken_upload_is_refused_and_changes_nothing(
    app, company, api, upload_folder, content
):
    headers = await token_for(app, company, "ann")
    before = await rows(app)

    response = await api.post(
        "/api/v1/dnc/imports", data=upload_form(content, "../../evil.xlsx"), headers=headers
    )

    body = await problem(response, 422, "unreadable_file")
    assert "evil.xlsx" in body["detail"]
    assert str(upload_folder) not in body["detail"]
    assert await rows(app) == before
    assert list(upload_folder.iterdir()) == []


async def test_an_oversized_upload_is_413_and_changes_nothing(
    app, company, api, upload_folder, monkeypatch
):
    headers = await token_for(app, company, "ann")
    monkeypatch.setattr(uploads, "MAX_UPLOAD", 10_000)
    before = await rows(app)
    content = b"3055550134\n" * 2_000

    sized = await api.post("/api/v1/dnc/imports", data=upload_form(content), headers=headers)

    async def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        for _ in range(20):
            yield content[:1_000]
        yield b"\r\n--b--\r\n"

    streamed = await api.post(
        "/api/v1/dnc/imports",
        data=chunks(),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    for response in (sized, streamed):
        await problem(response, 413, "payload_too_large")
    assert await rows(app) == before
    assert list(upload_folder.iterdir()) == []


async def test_a_request_that_is_no_proper_upload_is_refused(app, company, api, upload_folder):
    headers = await token_for(app, company, "ann")
    before = await rows(app)
    imports = "/api/v1/dnc/imports"

    await problem(
        await api.post(imports, json={"file": "3055550134"}, headers=headers),
        415,
        "unsupported_media_type",
    )
    no_file = aiohttp.FormData({"list": "dnc"})
    no_file.add_field("other", b"x", filename="x.csv")
    body = await problem(
        await api.post(imports, data=no_file, headers=headers), 422, "validation_failed"
    )
    assert body["errors"][0]["field"] == "file"
    bad_list = upload_form(b"3055550134\n", list="spam", extra="1")
    body = await problem(
        await api.post(imports, data=bad_list, headers=headers), 422, "validation_failed"
    )
    assert {error["field"] for error in body["errors"]} == {"list", "extra"}
    for fields in ({"expires_at": "2020-01-01T00:00:00Z"}, {"reason": "a\x00b"}):
        form = upload_form(b"3055550134\n", **fields)
        await problem(await api.post(imports, data=form, headers=headers), 422, "validation_failed")
    garbage = await api.post(
        imports,
        data=b"--b\r\nno headers here",
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    await problem(garbage, 400, "malformed_upload")
    twice = upload_form(b"3055550134\n")
    twice.add_field("file", b"2125550123\n", filename="b.csv")
    await problem(await api.post(imports, data=twice, headers=headers), 400, "malformed_upload")
    assert await rows(app) == before
    assert list(upload_folder.iterdir()) == []


def test_a_client_file_name_names_no_folder():
    assert uploads.safe_name("../../etc/passwd") == "passwd"
    assert uploads.safe_name("C:\\Users\\ann\\list.xlsx") == "list.xlsx"
    assert uploads.safe_name("..") == "upload"
    assert uploads.safe_name(None) == "upload"
    assert uploads.safe_name("a\x00b;rm -rf.csv") == "a_b_rm -rf.csv"


async def test_the_document_shows_the_upload_and_the_export(app, api):
    document = await (await api.get("/api/v1/openapi.json")).json()

    upload = document["paths"]["/dnc/imports"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert {"file", "list", "reason", "expires_at"} == set(form["properties"])
    export = document["paths"]["/dnc/export"]["get"]["responses"]["200"]
    assert list(export["content"]) == ["text/csv"]
    add_responses = document["paths"]["/dnc"]["post"]["responses"]
    assert {"200", "201", "403", "422"} <= set(add_responses)
    assert PROBLEM in document["paths"]["/dnc/{number}"]["delete"]["responses"]["403"]["content"]
    parameters = document["paths"]["/dnc"]["get"]["parameters"]
    assert {"list", "number", "source", "added_after", "limit", "cursor"} == {
        parameter["name"] for parameter in parameters
    }
