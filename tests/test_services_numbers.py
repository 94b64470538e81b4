"""dialer.services.numbers on both backends: any user of the company lists its sending
numbers, a manager registers them, a viewer or another company's user is refused, and a
refusal changes nothing."""

from __future__ import annotations

import pytest

from compliance import NotPermitted
from dialer.services import numbers as service
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, add_staff, as_user, contents


async def test_a_viewer_lists_the_numbers_and_may_not_register_one(app, engine, company):
    await add_staff(app, company)
    registered = await service.add_numbers(
        app, as_user(company, MANAGER), ["(305) 555-0100", "+13055550100"]
    )
    assert registered.as_dict() == {"added": ["+13055550100"], "already_registered": []}
    before = await contents(app)
    with pytest.raises(NotPermitted, match=r"vic \(viewer\) may not change"):
        await service.add_numbers(app, as_user(company, VIEWER), ["305-555-0101"])
    assert await contents(app) == before
    listed = await service.list_numbers(app, as_user(company, VIEWER))
    assert [(number.number, number.added_by) for number in listed] == [("+13055550100", "max")]


async def test_a_user_of_another_company_is_refused(app, engine, company):
    await add_staff(app, company)
    before = await contents(app)
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.add_numbers(app, as_user(company, OUTSIDER), ["305-555-0101"])
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.list_numbers(app, as_user(company, OUTSIDER))
    assert await contents(app) == before
