"""What the API's endpoint tests share: a client of a real server with a token for each of
the test company's staff (tests.service_callers) and for an outsider, and the CLI's JSON
for the same data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestClient

from compliance import Company
from dialer.app import App
from dialer.services import Caller
from dialer.services import tokens as token_service
from tests.service_callers import ADMIN, MANAGER, OUTSIDER, REMOVER, VIEWER, add_staff
from tests.test_api import bearer, served


@asynccontextmanager
async def staffed(app: App, company: Company) -> AsyncIterator[TestClient]:
    """A client of the API; `client.tokens[USER]` is a token of each user."""
    await add_staff(app, company)
    tokens = {}
    for name in (VIEWER, MANAGER, REMOVER, ADMIN):
        tokens[name] = (await token_service.create(app, Caller(company.name), name)).text
    tokens[OUTSIDER] = (await token_service.create(app, Caller("rival"), OUTSIDER)).text
    async with served(app) as client:
        client.tokens = tokens
        # A token's first use records it (then at most once a minute): not a change to see.
        for token in tokens.values():
            assert (await client.get("/api/v1/me", headers=bearer(token))).status == 200
        yield client


def as_(client: TestClient, user: str) -> dict[str, str]:
    return bearer(client.tokens[user])


def cli_json(dialer, *args: str):
    """`dialer ARGS --company acme`'s JSON output; call it in a thread (the CLI runs its own
    event loop)."""
    result = dialer(*args, "--company", "acme")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
