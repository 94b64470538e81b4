"""The blackout use cases as the API will call them, for a named user: a viewer lists
blackouts but adds none, ending one needs can_remove_dnc, a user of another company does
nothing, and a refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from compliance import NotPermitted
from dialer.app import utcnow
from dialer.services import blackouts
from tests.service_callers import (
    MANAGER,
    OUTSIDER,
    REMOVER,
    VIEWER,
    add_staff,
    as_user,
    contents,
)


@pytest.fixture
async def staffed(app, company):
    await add_staff(app, company)


def _window() -> tuple:
    now = utcnow()
    return now, now + timedelta(days=10)


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_adds_a_blackout(app, company, staffed, user):
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await blackouts.add_blackout(
            app, as_user(company, user), "LA", *_window(), source="Proclamation 90"
        )

    assert await contents(app) == before


@pytest.mark.parametrize("user", [MANAGER, VIEWER, OUTSIDER])
async def test_only_a_user_who_may_remove_ends_a_blackout(app, company, staffed, user):
    starts, ends = _window()
    added = await blackouts.add_blackout(
        app, as_user(company, MANAGER), "LA", starts, ends, source="Proclamation 90"
    )
    before = await contents(app)
    early = starts + timedelta(days=1)

    with pytest.raises(NotPermitted):
        await blackouts.end_blackout(app, as_user(company, user), added.id, early, reason="lifted")

    assert await contents(app) == before
    ended = await blackouts.end_blackout(
        app, as_user(company, REMOVER), added.id, early, reason="lifted"
    )
    assert blackouts.blackout_view(ended)["ended"]["by"] == REMOVER


async def test_a_viewer_lists_blackouts_and_an_outsider_does_not(app, company, staffed):
    added = await blackouts.add_blackout(
        app, as_user(company, None), "LA", *_window(), source="Proclamation 90"
    )

    listed = await blackouts.list_blackouts(app, as_user(company, VIEWER))

    assert [blackouts.blackout_view(found) for found in listed] == [blackouts.blackout_view(added)]
    with pytest.raises(NotPermitted):
        await blackouts.list_blackouts(app, as_user(company, OUTSIDER))
