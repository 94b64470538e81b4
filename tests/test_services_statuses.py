"""The call status use cases as the API will call them, for a named user: a viewer reads the
statuses but loads none, a user of another company does neither, and a refusal changes
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance import NotPermitted
from dialer.services import statuses
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, add_staff, as_user, contents

BOOK = Path("config/examples/statuses.toml")


@pytest.fixture
async def staffed(app, company):
    await add_staff(app, company)


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_loads_statuses(app, company, staffed, user):
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await statuses.load_statuses(app, as_user(company, user), BOOK)

    assert await contents(app) == before
    loaded = await statuses.load_statuses(app, as_user(company, MANAGER), BOOK)
    read = await statuses.status_book(app, as_user(company, VIEWER))
    assert statuses.book_view(read) == statuses.book_view(loaded)


async def test_an_outsider_reads_no_statuses(app, company, staffed):
    with pytest.raises(NotPermitted):
        await statuses.status_book(app, as_user(company, OUTSIDER))
