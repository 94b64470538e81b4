"""Users and the company's settings through the REST API, on a real server and both
databases: the answers are what `dialer users list --json` and `dialer company show --json`
print, only admins manage users (the last admin stays one), managers change the settings,
another company's user is not found, and a refused request changes nothing."""

from __future__ import annotations

import asyncio
import json

import pytest

from compliance import Role, accounts
from compliance.accounts import LastAdmin
from dialer.api import paging
from dialer.services import Caller, users
from tests.api_support import cli_json, staff_tokens, walk
from tests.service_callers import (
    ADMIN,
    MANAGER,
    OUTSIDER,
    REMOVER,
    VIEWER,
    contents,
)
from tests.test_api import problem, served

PASSWORD = "violet kettle under marble rain"


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


@pytest.fixture
async def staff(app, company, api) -> dict[str, dict[str, str]]:
    return await staff_tokens(app, company, api)


# --- users ------------------------------------------------------------------------------


async def test_users_are_listed_as_the_cli_lists_them(app, company, api, staff, dialer):
    response = await api.get("/api/v1/users", headers=staff[VIEWER])

    assert response.status == 200
    listed = (await response.json())["data"]
    printed = await cli_json(dialer, "users", "list", "--json")
    assert sorted(listed, key=lambda user: user["name"]) == printed
    assert [user["name"] for user in listed] == [VIEWER, MANAGER, REMOVER, ADMIN]


async def test_users_are_paged_each_once(app, company, api, staff):
    everyone = await walk(api, "/api/v1/users?limit=1", staff[VIEWER])

    assert [user["name"] for user in everyone] == [VIEWER, MANAGER, REMOVER, ADMIN]
    for forged in ("bogus", paging.cursor(2**31), paging.cursor(9_999_999_999)):
        refused = await api.get("/api/v1/users", params={"cursor": forged}, headers=staff[VIEWER])
        await problem(refused, 400, "invalid_cursor")


async def test_an_admin_adds_a_user_with_a_password_never_shown(app, company, api, staff, dialer):
    response = await api.post(
        "/api/v1/users",
        json={"name": "dora", "role": "manager", "can_remove_dnc": True, "password": PASSWORD},
        headers=staff[ADMIN],
    )

    assert response.status == 201, await response.text()
    text = await response.text()
    assert PASSWORD not in text
    assert "argon2" not in text
    added = json.loads(text)
    assert (added["role"], added["can_remove_dnc"], added["has_password"]) == (
        "manager",
        True,
        True,
    )
    assert added["password_changed_by"] == ADMIN
    printed = await cli_json(dialer, "users", "list", "--json")
    assert added in printed
    listed = await (await api.get("/api/v1/users", headers=staff[ADMIN])).text()
    assert PASSWORD not in listed
    assert "argon2" not in listed


async def test_only_an_admin_adds_a_user_and_a_refusal_adds_none(app, company, api, staff):
    before = await contents(app)
    wanted = {"name": "dora", "role": "viewer"}
    for name in (VIEWER, MANAGER, REMOVER):
        refused = await api.post("/api/v1/users", json=wanted, headers=staff[name])
        await problem(refused, 403, "not_permitted")
    weak = await api.post(
        "/api/v1/users", json={**wanted, "password": "password"}, headers=staff[ADMIN]
    )
    await problem(weak, 422, "invalid_password")
    taken = await api.post(
        "/api/v1/users", json={"name": VIEWER, "role": "viewer"}, headers=staff[ADMIN]
    )
    await problem(taken, 422, "invalid_user")
    viewer_remover = await api.post(
        "/api/v1/users", json={**wanted, "can_remove_dnc": True}, headers=staff[ADMIN]
    )
    await problem(viewer_remover, 422, "invalid_user")
    malformed = await api.post(
        "/api/v1/users", json={"name": "", "role": "boss", "x": 1}, headers=staff[ADMIN]
    )
    body = await problem(malformed, 422, "validation_failed")
    assert {error["field"] for error in body["errors"]} == {"name", "role", "x"}
    assert await contents(app) == before


async def test_an_admin_changes_a_role_and_the_last_admin_stays_one(
    app, company, api, staff, dialer
):
    promoted = await api.patch(
        f"/api/v1/users/{MANAGER}", json={"can_remove_dnc": True}, headers=staff[ADMIN]
    )
    assert promoted.status == 200, await promoted.text()
    shown = await promoted.json()
    assert (shown["role"], shown["can_remove_dnc"]) == ("manager", True)
    assert shown in await cli_json(dialer, "users", "list", "--json")

    before = await contents(app)
    last = await api.patch(f"/api/v1/users/{ADMIN}", json={"role": "manager"}, headers=staff[ADMIN])
    body = await problem(last, 409, "last_admin")
    assert "last admin" in body["detail"]
    for name in (VIEWER, MANAGER, REMOVER):
        refused = await api.patch(
            f"/api/v1/users/{VIEWER}", json={"role": "admin"}, headers=staff[name]
        )
        await problem(refused, 403, "not_permitted")
    viewer_remover = await api.patch(
        f"/api/v1/users/{REMOVER}", json={"role": "viewer"}, headers=staff[ADMIN]
    )
    await problem(viewer_remover, 422, "invalid_user")
    nothing = await api.patch(f"/api/v1/users/{VIEWER}", json={}, headers=staff[ADMIN])
    await problem(nothing, 422, "validation_failed")
    unknown = await api.patch("/api/v1/users/nobody", json={"role": "admin"}, headers=staff[ADMIN])
    await problem(unknown, 404, "not_found")
    assert await contents(app) == before

    second = await api.patch(
        f"/api/v1/users/{VIEWER}", json={"role": "admin"}, headers=staff[ADMIN]
    )
    assert second.status == 200
    demoted = await api.patch(
        f"/api/v1/users/{ADMIN}", json={"role": "viewer"}, headers=staff[ADMIN]
    )
    assert (await demoted.json())["role"] == "viewer"


async def test_another_companys_admin_finds_no_user_here(app, company, api, staff):
    before = await contents(app)
    for name in (VIEWER, ADMIN):
        changed = await api.patch(
            f"/api/v1/users/{name}", json={"role": "viewer"}, headers=staff[OUTSIDER]
        )
        await problem(changed, 404, "not_found")
        password = await api.put(
            f"/api/v1/users/{name}/password", json={"password": PASSWORD}, headers=staff[OUTSIDER]
        )
        await problem(password, 404, "not_found")
    listed = await (await api.get("/api/v1/users", headers=staff[OUTSIDER])).json()
    assert [user["name"] for user in listed["data"]] == [OUTSIDER]
    assert await contents(app) == before


async def test_a_password_is_set_by_an_admin_or_its_user(app, company, api, staff, dialer):
    before = await contents(app)
    other = await api.put(
        f"/api/v1/users/{MANAGER}/password", json={"password": PASSWORD}, headers=staff[VIEWER]
    )
    await problem(other, 403, "not_permitted")
    weak = await api.put(
        f"/api/v1/users/{VIEWER}/password", json={"password": "short"}, headers=staff[VIEWER]
    )
    await problem(weak, 422, "invalid_password")
    missing = await api.put(f"/api/v1/users/{VIEWER}/password", json={}, headers=staff[VIEWER])
    await problem(missing, 422, "validation_failed")
    assert await contents(app) == before

    own = await api.put(
        f"/api/v1/users/{VIEWER}/password", json={"password": PASSWORD}, headers=staff[VIEWER]
    )
    assert own.status == 204
    by_admin = await api.put(
        f"/api/v1/users/{MANAGER}/password",
        json={"password": PASSWORD + "!"},
        headers=staff[ADMIN],
    )
    assert by_admin.status == 204
    printed = {user["name"]: user for user in await cli_json(dialer, "users", "list", "--json")}
    assert (printed[VIEWER]["has_password"], printed[VIEWER]["password_changed_by"]) == (
        True,
        VIEWER,
    )
    assert printed[MANAGER]["password_changed_by"] == ADMIN


async def test_a_retried_add_with_its_idempotency_key_adds_one_user(app, company, api, staff):
    headers = {**staff[ADMIN], "Idempotency-Key": "add-dora"}
    wanted = {"name": "dora", "role": "viewer", "password": PASSWORD}
    first = await api.post("/api/v1/users", json=wanted, headers=headers)
    again = await api.post("/api/v1/users", json=wanted, headers=headers)

    assert (first.status, again.status) == (201, 201)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = await (await api.get("/api/v1/users", headers=staff[ADMIN])).json()
    assert [user["name"] for user in listed["data"]].count("dora") == 1


# --- the company's settings -------------------------------------------------------------


async def test_the_settings_are_shown_as_the_cli_shows_them(app, company, api, staff, dialer):
    response = await api.get("/api/v1/company", headers=staff[VIEWER])

    assert response.status == 200
    assert await response.json() == await cli_json(dialer, "company", "show", "--json")


async def test_a_manager_changes_the_settings(app, company, api, staff, dialer):
    response = await api.patch(
        "/api/v1/company",
        json={"countries": ["us", "CA"], "replies": {"help": "Acme: reply STOP to stop."}},
        headers=staff[MANAGER],
    )

    assert response.status == 200, await response.text()
    changed = await response.json()
    assert changed["countries"] == ["CA", "US"]
    assert changed["replies"]["help"] == "Acme: reply STOP to stop."
    assert changed == await cli_json(dialer, "company", "show", "--json")


async def test_a_refused_settings_change_changes_nothing(app, company, api, staff):
    before = await contents(app)
    viewer = await api.patch("/api/v1/company", json={"countries": ["CA"]}, headers=staff[VIEWER])
    await problem(viewer, 403, "not_permitted")
    unknown = await api.patch("/api/v1/company", json={"countries": ["ZZ"]}, headers=staff[ADMIN])
    await problem(unknown, 422, "invalid_countries")
    blank = await api.patch(
        "/api/v1/company",
        json={"countries": ["CA"], "replies": {"opt_out": "   "}},
        headers=staff[ADMIN],
    )
    await problem(blank, 422, "invalid_reply")
    for wrong in ({}, {"countries": []}, {"countries": ["US,CA"]}, {"replies": {"stop": "x"}}):
        refused = await api.patch("/api/v1/company", json=wrong, headers=staff[ADMIN])
        await problem(refused, 422, "validation_failed")
    assert await contents(app) == before

    rival = await api.patch("/api/v1/company", json={"countries": ["CA"]}, headers=staff[OUTSIDER])
    assert (await rival.json())["name"] == "rival"
    ours = await (await api.get("/api/v1/company", headers=staff[VIEWER])).json()
    assert "CA" not in ours["countries"]


async def demote(app, company, name: str) -> None:
    async with app.transaction() as conn:
        await accounts.change_user(conn, company, name, role=Role.VIEWER, by=name)


async def test_of_two_admins_demoting_each_other_at_once_the_second_is_refused(app, company, staff):
    await users.change_user(app, Caller(company.name), VIEWER, role=Role.ADMIN)

    async with app.transaction() as first:
        await accounts.change_user(first, company, VIEWER, role=Role.VIEWER, by=ADMIN)
        second = asyncio.create_task(demote(app, company, ADMIN))
        await asyncio.sleep(0.3)
        assert not second.done()  # it waits for the first's lock on the admins

    with pytest.raises(LastAdmin):
        await second
    async with users.list_users(app, Caller(company.name)) as page:
        admins = [
            account.user.name async for account in page.rows if account.user.role is Role.ADMIN
        ]
    assert admins == [ADMIN]
