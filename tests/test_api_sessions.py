"""Browser sessions: sign-in, the encrypted cookie, CSRF, sign-out and the lockout, on a
real server and both databases, and shared between `dialer serve` nodes by their key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from cryptography.fernet import Fernet
from openapi_spec_validator import validate
from sqlalchemy import delete, update
from structlog.testing import capture_logs

from compliance import Role, passwords
from compliance.tables import api_tokens, sign_in_failures, users
from dialer.api import PREFIX, api_app
from dialer.api.sessions import COOKIE, IDLE_TIMEOUT, LIFETIME
from dialer.app import App, utcnow
from dialer.cli import main
from dialer.services import Caller
from dialer.services import users as accounts
from dialer.settings import Settings
from tests.test_api import bearer, count, problem, token_of

PASSWORD = "violet harbor lantern 42"
OPERATOR = Caller("acme")


def served(app: App) -> TestClient:
    """The API as `dialer serve` mounts it; cookies only go where a test sends them."""
    parent = web.Application()
    parent.add_subapp(PREFIX, api_app(app))
    return TestClient(TestServer(parent, host="127.0.0.1"), cookie_jar=aiohttp.DummyCookieJar())


@pytest.fixture
async def api(app):
    async with served(app) as client:
        yield client


async def add_user(app: App, name: str, role: Role = Role.ADMIN) -> None:
    await accounts.add_user(app, OPERATOR, name, role, password=PASSWORD)


def credentials(user: str = "ann", password: str = PASSWORD) -> dict[str, str]:
    return {"company": "acme", "user": user, "password": password}


async def sign_in(api: TestClient, user: str = "ann") -> tuple[dict[str, str], str]:
    """The Cookie header of a new session of `user`, and its CSRF token."""
    response = await api.post("/api/v1/session", json=credentials(user))
    assert response.status == 200, await response.text()
    return cookie_header(response), (await response.json())["csrf_token"]


def cookie_header(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={response.cookies[COOKIE].value}"}


async def me(api: TestClient, headers: dict[str, str]) -> aiohttp.ClientResponse:
    return await api.get("/api/v1/me", headers=headers)


# --- signing in -------------------------------------------------------------------------


async def test_a_sign_in_gives_an_encrypted_httponly_cookie_acting_as_the_user(app, company, api):
    await add_user(app, "ann", Role.MANAGER)

    response = await api.post("/api/v1/session", json=credentials())

    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["user"] == {
        "name": "ann",
        "role": "manager",
        "can_remove_dnc": False,
        "company": "acme",
    }
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # public_url is not https
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == LIFETIME.total_seconds()
    for secret in ("ann", "acme", body["csrf_token"]):
        assert secret not in cookie.value
    headers = cookie_header(response)
    assert (await (await me(api, headers)).json())["name"] == "ann"
    again = await api.get("/api/v1/session", headers=headers)
    assert again.status == 200
    assert await again.json() == body


async def test_each_sign_in_starts_a_new_session(app, company, api):
    await add_user(app, "ann")
    first, first_csrf = await sign_in(api)

    response = await api.post("/api/v1/session", json=credentials(), headers=first)

    assert response.status == 200
    assert cookie_header(response) != first
    assert (await response.json())["csrf_token"] != first_csrf


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(app, company, api):
    await add_user(app, "ann")

    with capture_logs() as logged:
        answers = [
            await api.post("/api/v1/session", json=body)
            for body in (
                credentials("ann", "not the password at all"),
                credentials("nobody", "not the password at all"),
                {**credentials(), "company": "no-such-company"},
            )
        ]

    bodies = [await problem(answer, 401, "invalid_credentials") for answer in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert all(COOKIE not in answer.cookies for answer in answers)
    assert "not the password" not in json.dumps(logged, default=str)
    assert PASSWORD not in json.dumps(logged, default=str)


async def test_five_failures_lock_the_user_with_retry_after_until_the_lock_expires(
    app, company, api
):
    await add_user(app, "ann")
    for _ in range(passwords.MAX_FAILURES_PER_USER):
        wrong = await api.post("/api/v1/session", json=credentials(password="x" * 20))
        await problem(wrong, 401, "invalid_credentials")

    locked = await api.post("/api/v1/session", json=credentials())

    await problem(locked, 429, "too_many_attempts")
    assert COOKIE not in locked.cookies
    wait = int(locked.headers["Retry-After"])
    assert passwords.LOCKOUT.total_seconds() - 60 < wait <= passwords.LOCKOUT.total_seconds()

    async with app.transaction() as conn:  # the lockout's time passes
        await conn.execute(
            update(sign_in_failures).values(at=utcnow() - passwords.LOCKOUT - timedelta(seconds=1))
        )
    assert (await api.post("/api/v1/session", json=credentials())).status == 200


async def test_many_failures_from_one_address_lock_every_name_from_it(app, company, api):
    await add_user(app, "ann")
    for index in range(passwords.MAX_FAILURES_PER_ADDRESS):
        body = credentials(f"guess-{index}", "x" * 20)
        await problem(await api.post("/api/v1/session", json=body), 401, "invalid_credentials")

    await problem(await api.post("/api/v1/session", json=credentials()), 429, "too_many_attempts")


async def test_a_sign_in_from_another_sites_page_is_refused(app, company, api):
    await add_user(app, "ann")
    own = f"http://127.0.0.1:{api.port}"

    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = await api.post("/api/v1/session", json=credentials(), headers=headers)
        await problem(refused, 403, "csrf_failed")
        assert COOKIE not in refused.cookies
    fine = await api.post("/api/v1/session", json=credentials(), headers={"Origin": own})
    assert fine.status == 200


async def test_the_cookie_is_secure_and_the_public_origin_accepted_when_public_url_is_https(
    app, company
):
    settings = Settings(
        database_url=app.settings.database_url,
        public_url="https://dialer.example.com",
        log_level="WARNING",
    )
    await add_user(app, "ann")
    async with served(App(settings, app.engine)) as api:
        response = await api.post(
            "/api/v1/session",
            json=credentials(),
            headers={"Origin": "https://dialer.example.com"},
        )
        assert response.status == 200
        assert response.cookies[COOKIE]["secure"] is True


# --- CSRF -------------------------------------------------------------------------------


async def test_a_change_made_with_the_cookie_needs_the_csrf_token_and_our_origin(app, company, api):
    await add_user(app, "ann")
    cookie, csrf = await sign_in(api)
    own = f"http://127.0.0.1:{api.port}"

    for headers in (
        cookie,
        {**cookie, "X-CSRF-Token": "not-the-token"},
        {**cookie, "X-CSRF-Token": csrf + "x"},
        {**cookie, "X-CSRF-Token": "é"},
        {**cookie, "X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        {**cookie, "X-CSRF-Token": csrf, "Origin": "null"},
        {**cookie, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"},
    ):
        refused = await api.post("/api/v1/tokens", json={"user": "ann"}, headers=headers)
        await problem(refused, 403, "csrf_failed")
    assert await count(app, api_tokens) == 0

    allowed = await api.post(
        "/api/v1/tokens",
        json={"user": "ann"},
        headers={**cookie, "X-CSRF-Token": csrf, "Origin": own, "Sec-Fetch-Site": "same-origin"},
    )
    assert allowed.status == 201
    without_origin = await api.post(
        "/api/v1/tokens", json={"user": "ann"}, headers={**cookie, "X-CSRF-Token": csrf}
    )
    assert without_origin.status == 201
    assert await count(app, api_tokens) == 2
    assert (await api.get("/api/v1/tokens", headers=cookie)).status == 200  # reading: no token


async def test_a_bearer_token_needs_no_csrf_token_and_wins_over_a_cookie(app, company, api):
    await add_user(app, "ann")
    cookie, _ = await sign_in(api)
    viewer = await token_of(app, company, "vic", Role.VIEWER)

    both = {**cookie, **bearer(viewer)}
    assert (await (await me(api, both)).json())["name"] == "vic"
    refused = await api.post("/api/v1/tokens", json={"user": "vic"}, headers=both)
    await problem(refused, 403, "not_permitted")  # the viewer's refusal, not csrf_failed
    await problem(await api.get("/api/v1/session", headers=both), 404, "not_found")
    admin = await token_of(app, company, "ada")
    created = await api.post("/api/v1/tokens", json={"user": "ada"}, headers=bearer(admin))
    assert created.status == 201


# --- the session ending -----------------------------------------------------------------


async def test_sign_out_ends_the_session_and_every_copy_of_its_cookie(app, company, api):
    await add_user(app, "ann")
    cookie, csrf = await sign_in(api)
    other, _ = await sign_in(api)

    await problem(await api.delete("/api/v1/session", headers=cookie), 403, "csrf_failed")
    assert (await me(api, cookie)).status == 200
    signed_out = await api.delete("/api/v1/session", headers={**cookie, "X-CSRF-Token": csrf})

    assert signed_out.status == 204
    assert signed_out.cookies[COOKIE].value == ""  # the browser forgets it
    ended = await me(api, cookie)
    body = await problem(ended, 401, "unauthorized")
    assert "signed out" in body["detail"]
    assert ended.cookies[COOKIE].value == ""
    assert (await me(api, other)).status == 200  # another session stands


async def test_a_tampered_cookie_or_one_of_another_key_opens_nothing(app, company, api):
    await add_user(app, "ann")
    cookie, _ = await sign_in(api)
    value = cookie["Cookie"].split("=", 1)[1]
    tampered = value[:-8] + ("A" if value[-8] != "A" else "B") + value[-7:]
    payload = json.dumps(
        {
            "created": int(time.time()),
            "session": {"company": "acme", "user": "ann", "id": "x", "csrf": "x"},
        }
    )
    foreign = Fernet(Fernet.generate_key()).encrypt(payload.encode()).decode()

    for forged in (tampered, foreign, "garbage", ""):
        response = await me(api, {"Cookie": f"{COOKIE}={forged}"})
        await problem(response, 401, "unauthorized")
    assert (await me(api, cookie)).status == 200


async def test_a_session_past_its_lifetime_or_idle_too_long_has_expired(app, company, api):
    await add_user(app, "ann")
    cookie, _ = await sign_in(api)
    fernet = Fernet(app.settings.secret_key)
    value = cookie["Cookie"].split("=", 1)[1]
    held = json.loads(fernet.decrypt(value.encode()))
    now = int(time.time())

    def aged(**moments: int) -> dict[str, str]:
        data = {**held, "session": {**held["session"], **moments}}
        return {"Cookie": f"{COOKIE}={fernet.encrypt(json.dumps(data).encode()).decode()}"}

    assert (await me(api, aged(signed_in=now - 60, seen=now - 60))).status == 200
    idle = int(IDLE_TIMEOUT.total_seconds()) + 1
    lifetime = int(LIFETIME.total_seconds()) + 1
    for headers in (aged(seen=now - idle), aged(signed_in=now - lifetime, seen=now)):
        body = await problem(await me(api, headers), 401, "unauthorized")
        assert "expired" in body["detail"]


async def test_a_request_renews_a_stale_last_seen_time(app, company, api):
    await add_user(app, "ann")
    cookie, _ = await sign_in(api)
    fernet = Fernet(app.settings.secret_key)
    held = json.loads(fernet.decrypt(cookie["Cookie"].split("=", 1)[1].encode()))
    stale = int(time.time()) - int(IDLE_TIMEOUT.total_seconds()) + 30
    data = {**held, "session": {**held["session"], "seen": stale}}
    old = {"Cookie": f"{COOKIE}={fernet.encrypt(json.dumps(data).encode()).decode()}"}

    renewed = await me(api, old)

    assert renewed.status == 200
    fresh = json.loads(fernet.decrypt(renewed.cookies[COOKIE].value.encode()))
    assert fresh["session"]["seen"] > stale + 60
    assert COOKIE not in (await me(api, cookie)).cookies  # seen just now: left as it is


async def test_a_new_password_or_a_deleted_user_ends_their_sessions_at_once(app, company, api):
    await add_user(app, "ann")
    await add_user(app, "bob")
    await add_user(app, "cy")
    ann, _ = await sign_in(api, "ann")
    bob, _ = await sign_in(api, "bob")
    cy, cy_csrf = await sign_in(api, "cy")

    await accounts.set_password(app, OPERATOR, "ann", "a whole new passphrase 77")
    async with app.transaction() as conn:
        await conn.execute(delete(users).where(users.c.name == "bob"))
        await conn.execute(update(users).where(users.c.name == "cy").values(role=Role.VIEWER.value))

    for headers in (ann, bob):
        body = await problem(await me(api, headers), 401, "unauthorized")
        assert "sign in again" in body["detail"]
    demoted = await api.post(
        "/api/v1/tokens", json={"user": "cy"}, headers={**cy, "X-CSRF-Token": cy_csrf}
    )
    await problem(demoted, 403, "not_permitted")
    assert (await (await me(api, cy)).json())["role"] == "viewer"
    assert (await api.post("/api/v1/session", json=credentials("ann"))).status == 401


# --- the document -----------------------------------------------------------------------


async def test_the_document_shows_the_session_routes_and_the_cookie_scheme(api):
    document = await (await api.get("/api/v1/openapi.json")).json()

    validate(document)
    assert document["components"]["securitySchemes"]["cookieAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": document["components"]["securitySchemes"]["cookieAuth"]["description"],
    }
    assert {"bearer": []} in document["security"]
    assert {"cookieAuth": []} in document["security"]
    session = document["paths"]["/session"]
    assert set(session) == {"get", "post", "delete"}
    assert session["post"]["security"] == []
    assert {"401", "403", "429"} <= set(session["post"]["responses"])
    assert "403" in document["paths"]["/tokens"]["post"]["responses"]


# --- dialer serve -----------------------------------------------------------------------


def test_serve_refuses_to_start_without_a_usable_secret_key(dialer, database_url, tmp_path):
    runner = CliRunner()
    env = {"DIALER_DATABASE_URL": database_url, "DIALER_LOG_LEVEL": "WARNING"}

    missing = runner.invoke(main, ["serve"], env={**env, "DIALER_HOME": str(tmp_path)})
    malformed = runner.invoke(main, ["serve"], env={**env, "DIALER_SECRET_KEY": "hunter2"})

    assert missing.exit_code == 1
    assert "no secret_key" in missing.stderr
    assert "DIALER_SECRET_KEY" in missing.stderr
    assert malformed.exit_code == 1
    assert "not a Fernet key" in malformed.stderr
    assert "hunter2" not in malformed.stderr


@asynccontextmanager
async def serving(database_url: str, secret_key: str):
    """A `dialer serve` process with this secret key; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_DEFAULT_COMPANY": "acme",
        "DIALER_LOG_LEVEL": "WARNING",
        "DIALER_WEBHOOK_PORT": str(port),
        "DIALER_SECRET_KEY": secret_key,
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dialer", "serve", env=env, stdout=asyncio.subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                assert server.returncode is None, "serve exited early"
                try:
                    await session.get(f"{url}/api/v1/healthz")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        await server.communicate()
    assert server.returncode == 0


async def test_nodes_sharing_the_secret_key_accept_each_others_sessions(app, company, database_url):
    await add_user(app, "ann")
    shared, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()

    async with (
        serving(database_url, shared) as first,
        serving(database_url, shared) as second,
        serving(database_url, other) as elsewhere,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):
        signed_in = await client.post(f"{first}/api/v1/session", json=credentials())
        assert signed_in.status == 200
        cookie = cookie_header(signed_in)
        csrf = (await signed_in.json())["csrf_token"]

        on_second = await client.get(f"{second}/api/v1/me", headers=cookie)
        assert on_second.status == 200
        assert (await on_second.json())["name"] == "ann"
        assert (await client.get(f"{elsewhere}/api/v1/me", headers=cookie)).status == 401

        signed_out = await client.delete(
            f"{second}/api/v1/session", headers={**cookie, "X-CSRF-Token": csrf}
        )
        assert signed_out.status == 204
        assert (await client.get(f"{first}/api/v1/me", headers=cookie)).status == 401
