"""What the API's endpoint tests share: the staff of tests.service_callers with a token
each, a client of a real server holding their headers, the CLI's JSON for the same data,
and a listing walked page by page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import Result

from compliance import Company
from dialer.app import App
from dialer.services import Caller
from dialer.services import tokens as token_service
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, REMOVER, VIEWER, add_staff
from tests.test_api import served


async def staff_tokens(app: App, company: Company, api: TestClient) -> dict[str, dict[str, str]]:
    """The staff of tests.service_callers, each with a token, each token used once (its
    first use is recorded: later refusals change nothing)."""
    await add_staff(app, company)
    headers = {}
    for name in (VIEWER, MANAGER, REMOVER, ADMIN):
        created = await token_service.create(app, Caller(company.name), name)
        headers[name] = {"Authorization": f"Bearer {created.text}"}
    outsider = await token_service.create(app, Caller("rival"), OUTSIDER)
    headers[OUTSIDER] = {"Authorization": f"Bearer {outsider.text}"}
    for header in headers.values():
        assert (await api.get("/api/v1/me", headers=header)).status == 200
    return headers


@asynccontextmanager
async def staffed(app: App, company: Company) -> AsyncIterator[TestClient]:
    """A client of the API holding the staff's headers (`as_(client, USER)`)."""
    async with served(app) as client:
        client.staff = await staff_tokens(app, company, client)
        yield client


def as_(client: TestClient, user: str) -> dict[str, str]:
    return client.staff[user]


async def cli_json(dialer: Callable[..., Result], *args: str) -> Any:
    """What `dialer ARGS... --company acme` prints as JSON (ARGS ask for it), run in a
    thread beside the server: the CLI runs its own event loop."""
    printed = await asyncio.to_thread(dialer, *args, "--company", "acme")
    assert printed.exit_code == 0, printed.output
    return json.loads(printed.stdout)


async def walk(api: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a listing, following next_url page by page."""
    items, url = [], path
    while url is not None:
        response = await api.get(url, headers=headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        items += page["data"]
        url = page["next_url"]
        if url is not None:
            assert page["next_cursor"] in url
    return items
