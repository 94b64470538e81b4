"""The REST API's door: bearer tokens, problem documents, cursor pages, Idempotency-Key
and the OpenAPI document, on a real server and both databases."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from sqlalchemy import delete, func, select, update

from campaigns.tables import idempotency_keys
from compliance import Role, accounts
from compliance.tables import api_tokens, users
from dialer.api import PREFIX, api_app
from dialer.app import App, utcnow
from dialer.database import create_engine
from dialer.services import Caller
from dialer.services import tokens as service
from tests.support import NOW

OPERATOR = Caller("acme")
PROBLEM = "application/problem+json"


@pytest.fixture
async def api(app):
    """A client of the API, mounted as `dialer serve` mounts it, on 127.0.0.1."""
    async with served(app) as client:
        yield client


def served(app: App) -> TestClient:
    parent = web.Application()
    parent.add_subapp(PREFIX, api_app(app))
    return TestClient(TestServer(parent, host="127.0.0.1"))


async def add_user(app, company, name: str, role: Role = Role.ADMIN) -> None:
    async with app.transaction() as conn:
        await accounts.add_user(conn, company, name, role, False, NOW)


async def token_of(app, company, name: str, role: Role = Role.ADMIN) -> str:
    await add_user(app, company, name, role)
    return (await service.create(app, Caller(company.name), name)).text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count(app, table) -> int:
    async with app.snapshot() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def problem(response: aiohttp.ClientResponse, status: int, code: str) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body = await response.json(content_type=PROBLEM)
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# --- tokens at the command line ---------------------------------------------------------


def test_tokens_create_shows_the_secret_once_and_list_never(dialer):
    assert dialer("users", "add", "ann", "--role", "admin").exit_code == 0
    created = dialer("tokens", "create", "--user", "ann", "--label", "crm")
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("dlr_1_")
    as_json = dialer("tokens", "create", "--user", "ann", "--json")
    fields = json.loads(as_json.stdout)
    assert set(fields) == {"id", "token", "user", "label", "expires_at"}
    assert fields["token"].startswith(f"dlr_{fields['id']}_")

    listed = dialer("tokens", "list", "--json")
    table = dialer("tokens", "list")
    for output in (listed.stdout, table.stdout):
        assert token.split("_", 2)[2] not in output
        assert fields["token"].split("_", 2)[2] not in output
    rows = json.loads(listed.stdout)
    assert [(row["id"], row["label"], row["state"]) for row in rows] == [
        (1, "crm", "active"),
        (2, "", "active"),
    ]
    assert "token" not in rows[0]

    assert dialer("tokens", "revoke", "1").exit_code == 0
    states = [row["state"] for row in json.loads(dialer("tokens", "list", "--json").stdout)]
    assert states == ["revoked", "active"]


def test_tokens_create_refuses_a_past_expiry_or_no_user_and_creates_nothing(dialer):
    assert dialer("users", "add", "ann", "--role", "admin").exit_code == 0
    past = dialer("tokens", "create", "--user", "ann", "--expires", "2020-01-01T00:00Z")
    assert past.exit_code == 2
    assert "has passed" in past.stderr
    out_of_range = dialer("tokens", "create", "--user", "ann", "--expires", "2200-01-01T00:00Z")
    assert out_of_range.exit_code == 2
    nobody = dialer("tokens", "create", "--user", "nobody")
    assert nobody.exit_code == 1
    assert "no user named 'nobody'" in nobody.stderr
    assert dialer("tokens", "revoke", "7").exit_code == 1
    assert json.loads(dialer("tokens", "list", "--json").stdout) == []


# --- the door ---------------------------------------------------------------------------


async def test_a_token_acts_as_its_user(app, company, api):
    await add_user(app, company, "mia", Role.MANAGER)
    created = await service.create(app, OPERATOR, "mia", "crm")

    response = await api.get("/api/v1/me", headers=bearer(created.text))

    assert response.status == 200
    assert await response.json() == {
        "name": "mia",
        "role": "manager",
        "can_remove_dnc": False,
        "company": "acme",
    }


async def test_last_use_is_recorded_at_most_once_a_minute(app, company, api):
    token = await token_of(app, company, "ann")
    assert (await api.get("/api/v1/me", headers=bearer(token))).status == 200
    [first] = await service.list_tokens(app, OPERATOR)
    assert first.last_used_at is not None

    assert (await api.get("/api/v1/me", headers=bearer(token))).status == 200
    [again] = await service.list_tokens(app, OPERATOR)
    assert again.last_used_at == first.last_used_at

    async with app.transaction() as conn:
        earlier = first.last_used_at - timedelta(minutes=2)
        await conn.execute(update(api_tokens).values(last_used_at=earlier))
    assert (await api.get("/api/v1/me", headers=bearer(token))).status == 200
    [later] = await service.list_tokens(app, OPERATOR)
    assert later.last_used_at > first.last_used_at


@pytest.mark.parametrize(
    "case", ["none", "not bearer", "malformed", "forged", "unknown", "revoked", "expired", "gone"]
)
async def test_no_valid_token_answers_401(app, company, api, case):
    token = await token_of(app, company, "ann")
    token_id = int(token.split("_")[1])
    headers = bearer(token)
    if case == "none":
        headers = {}
    elif case == "not bearer":
        headers = {"Authorization": f"Basic {token}"}
    elif case == "malformed":
        headers = bearer("dlr_x")
    elif case == "forged":
        headers = bearer(f"dlr_{token_id}_{'A' * 43}")
    elif case == "unknown":
        headers = bearer(f"dlr_{token_id + 1}_{token.split('_', 2)[2]}")
    elif case == "revoked":
        await service.revoke(app, OPERATOR, token_id)
    elif case == "expired":
        async with app.transaction() as conn:
            await conn.execute(update(api_tokens).values(expires_at=utcnow()))
    elif case == "gone":
        async with app.transaction() as conn:
            await conn.execute(delete(users))

    response = await api.get("/api/v1/me", headers=headers)

    await problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_viewer_may_not_create_a_token(app, company, api):
    token = await token_of(app, company, "vic", Role.VIEWER)

    response = await api.post("/api/v1/tokens", json={"user": "vic"}, headers=bearer(token))

    await problem(response, 403, "not_permitted")
    assert await count(app, api_tokens) == 1


async def test_an_admin_issues_and_revokes_tokens_through_the_api(app, company, api):
    admin = await token_of(app, company, "ann")
    await add_user(app, company, "mia", Role.MANAGER)

    created = await api.post(
        "/api/v1/tokens",
        json={"user": "mia", "label": "lead vendor", "expires_at": "2099-01-01T00:00:00Z"},
        headers=bearer(admin),
    )
    assert created.status == 201
    assert created.headers["Cache-Control"] == "no-store"
    issued = await created.json()
    assert issued["user"] == "mia"
    assert issued["expires_at"] == "2099-01-01T00:00:00+00:00"
    me = await api.get("/api/v1/me", headers=bearer(issued["token"]))
    assert (await me.json())["name"] == "mia"

    revoked = await api.delete(f"/api/v1/tokens/{issued['id']}", headers=bearer(admin))
    assert revoked.status == 204
    await problem(await api.get("/api/v1/me", headers=bearer(issued["token"])), 401, "unauthorized")


async def test_another_companys_token_is_not_found_and_stays(app, company, api):
    async with app.transaction() as conn:
        bravo, _ = await accounts.ensure_company(conn, "bravo", NOW)
    theirs = await token_of(app, bravo, "bob")
    their_id = int(theirs.split("_")[1])
    ours = await token_of(app, company, "ann")

    response = await api.delete(f"/api/v1/tokens/{their_id}", headers=bearer(ours))

    body = await problem(response, 404, "not_found")
    assert "bravo" not in body["detail"]
    assert (await api.get("/api/v1/me", headers=bearer(theirs))).status == 200
    listed = await (await api.get("/api/v1/tokens", headers=bearer(ours))).json()
    assert [token["user"] for token in listed["data"]] == ["ann"]


async def test_a_non_admin_lists_only_their_own_tokens(app, company, api):
    await token_of(app, company, "ann")
    viewer = await token_of(app, company, "vic", Role.VIEWER)

    listed = await (await api.get("/api/v1/tokens", headers=bearer(viewer))).json()

    assert [token["user"] for token in listed["data"]] == ["vic"]


async def test_health_needs_no_token(api):
    response = await api.get("/api/v1/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}


async def test_health_is_503_when_the_database_does_not_answer(app):
    unreachable = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    try:
        async with served(App(app.settings, unreachable)) as client:
            response = await client.get("/api/v1/healthz")
            await problem(response, 503, "database_unavailable")
    finally:
        await unreachable.dispose()


# --- errors -----------------------------------------------------------------------------


async def test_every_error_is_a_problem_document(app, company, api):
    headers = bearer(await token_of(app, company, "ann"))

    await problem(await api.get("/api/v1/nowhere", headers=headers), 404, "not_found")
    await problem(await api.get("/api/v1/nowhere"), 404, "not_found")
    wrong = await api.put("/api/v1/me", headers=headers)
    await problem(wrong, 405, "method_not_allowed")
    assert "GET" in wrong.headers["Allow"]
    await problem(await api.delete("/api/v1/tokens/abc", headers=headers), 404, "not_found")
    await problem(await api.delete("/api/v1/tokens/0", headers=headers), 404, "not_found")
    malformed = await api.post(
        "/api/v1/tokens",
        data=b'{"user": ',
        headers={**headers, "Content-Type": "application/json"},
    )
    await problem(malformed, 400, "malformed_json")
    huge = await api.post(
        "/api/v1/tokens",
        data=json.dumps({"user": "ann", "label": "x" * 200_000}),
        headers={**headers, "Content-Type": "application/json"},
    )
    await problem(huge, 413, "payload_too_large")
    form = await api.post("/api/v1/tokens", data={"user": "ann"}, headers=headers)
    await problem(form, 415, "unsupported_media_type")
    assert await count(app, api_tokens) == 1


async def test_a_bad_payload_names_its_fields_and_changes_nothing(app, company, api):
    headers = bearer(await token_of(app, company, "ann"))

    response = await api.post(
        "/api/v1/tokens",
        json={"label": 5, "expires_at": "tomorrow", "scope": "all"},
        headers=headers,
    )

    body = await problem(response, 422, "validation_failed")
    assert {error["field"] for error in body["errors"]} == {
        "user",
        "label",
        "expires_at",
        "scope",
    }
    for payload in (
        {"user": "ann", "expires_at": "2020-01-01T00:00:00Z"},
        {"user": "ann", "expires_at": "2030-01-01T00:00:00"},
        {"user": "ann", "expires_at": "2200-01-01T00:00:00Z"},
        {"user": "nobody"},
        {"user": "ann\x00"},
        [],
    ):
        response = await api.post("/api/v1/tokens", json=payload, headers=headers)
        assert response.status == 422, payload
        assert response.content_type == PROBLEM
    assert await count(app, api_tokens) == 1


async def test_an_unexpected_failure_is_a_500_problem_without_details(
    app, company, api, monkeypatch
):
    headers = bearer(await token_of(app, company, "ann"))

    async def failing(*_):
        raise RuntimeError("password=hunter2")

    monkeypatch.setattr(service, "whoami", failing)
    response = await api.get("/api/v1/me", headers=headers)

    body = await problem(response, 500, "internal_error")
    assert "hunter2" not in json.dumps(body)


# --- paging -----------------------------------------------------------------------------


async def test_tokens_are_listed_in_cursor_pages(app, company, api):
    headers = bearer(await token_of(app, company, "ann"))
    for label in "abcd":
        await service.create(app, OPERATOR, "ann", label)

    seen, url, pages = [], "/api/v1/tokens?limit=2", 0
    while url:
        page = await (await api.get(url, headers=headers)).json()
        seen += [token["label"] for token in page["data"]]
        url, pages = page["next_url"], pages + 1
    assert seen == ["", "a", "b", "c", "d"]
    assert pages == 3
    assert page["next_cursor"] is None

    for query in ("cursor=nonsense", "cursor=YWZ0ZXI6eA", "cursor=%00", "cursor=%C3%9A"):
        response = await api.get(f"/api/v1/tokens?{query}", headers=headers)
        await problem(response, 400, "invalid_cursor")
    for query in ("limit=0", "limit=1001", "limit=ten"):
        body = await problem(
            await api.get(f"/api/v1/tokens?{query}", headers=headers), 400, "validation_failed"
        )
        assert body["errors"][0]["field"] == "limit"


# --- Idempotency-Key --------------------------------------------------------------------


async def test_a_retried_creation_gets_the_first_answer_and_creates_nothing_more(app, company, api):
    headers = {**bearer(await token_of(app, company, "ann")), "Idempotency-Key": "k-1"}

    first = await api.post("/api/v1/tokens", json={"user": "ann"}, headers=headers)
    again = await api.post("/api/v1/tokens", json={"label": "", "user": "ann"}, headers=headers)

    assert first.status == again.status == 201
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(app, api_tokens) == 2
    async with app.snapshot() as conn:
        stored = (await conn.execute(select(idempotency_keys))).one()
    secret = (await first.json())["token"]
    assert "k-1" not in stored.key
    assert secret not in stored.body

    other = await api.post("/api/v1/tokens", json={"user": "ann", "label": "x"}, headers=headers)
    await problem(other, 422, "idempotency_key_reused")
    assert await count(app, api_tokens) == 2

    without = {"Authorization": headers["Authorization"]}
    for _ in range(2):
        assert (await api.post("/api/v1/tokens", json={"user": "ann"}, headers=without)).ok
    assert await count(app, api_tokens) == 4


async def test_a_refused_creation_releases_its_key(app, company, api):
    headers = {**bearer(await token_of(app, company, "ann")), "Idempotency-Key": "k-2"}

    refused = await api.post("/api/v1/tokens", json={"user": "mia"}, headers=headers)
    await problem(refused, 422, "token_refused")
    await add_user(app, company, "mia", Role.MANAGER)
    retried = await api.post("/api/v1/tokens", json={"user": "mia"}, headers=headers)

    assert retried.status == 201
    assert "Idempotent-Replayed" not in retried.headers
    bad_key = {**headers, "Idempotency-Key": "with space"}
    response = await api.post("/api/v1/tokens", json={"user": "mia"}, headers=bad_key)
    await problem(response, 400, "invalid_idempotency_key")


# --- the document -----------------------------------------------------------------------


async def test_the_openapi_document_is_valid_and_lists_every_route(app):
    api = api_app(app)
    parent = web.Application()
    parent.add_subapp(PREFIX, api)
    async with TestClient(TestServer(parent, host="127.0.0.1")) as client:
        response = await client.get("/api/v1/openapi.json")
        assert response.status == 200
        document = await response.json()

    validate(document)
    assert document["openapi"] == "3.1.0"
    base = document["servers"][0]["url"]
    documented = {
        (method.upper(), base + path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = {(route.method, route.resource.canonical) for route in api.router.routes()}
    assert documented == routed
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/healthz"]["get"]["security"] == []
    create = document["paths"]["/tokens"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenCreate"
    }
    assert PROBLEM in create["responses"]["422"]["content"]


# --- dialer serve -----------------------------------------------------------------------


async def test_serve_answers_the_api_on_the_webhook_port(app, company, database_url):
    token = await token_of(app, company, "ann")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_DEFAULT_COMPANY": "acme",
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_WEBHOOK_PORT": str(port),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                assert server.returncode is None, "serve exited early"
                try:
                    response = await session.get(
                        f"http://127.0.0.1:{port}/api/v1/me", headers=bearer(token)
                    )
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            assert response.status == 200
            assert (await response.json())["name"] == "ann"
    finally:
        server.send_signal(signal.SIGTERM)
        await server.communicate()
    assert server.returncode == 0
