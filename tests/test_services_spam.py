"""dialer.services.spam on both backends: any user of the company reads the Spam list and
its log, a manager changes it, a viewer or another company's user is refused, and a refusal
changes nothing."""

from __future__ import annotations

import pytest

from compliance import NotPermitted
from dialer.services import spam as service
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, add_staff, as_user, contents

A = "+13055550134"


async def listed(app, caller) -> list[str]:
    async with service.entries(app, caller) as page:
        return [entry.number async for entry in page.rows]


async def logged(app, caller) -> list[tuple[str, str, str]]:
    async with service.audit_log(app, caller, number="305-555-0134") as page:
        return [(event.action, event.number, event.actor) async for event in page.rows]


async def test_a_viewer_reads_the_list_and_may_not_change_it(app, engine, company):
    await add_staff(app, company)
    added = await service.add_numbers(
        app, as_user(company, MANAGER), ["305-555-0134"], reason="robot"
    )
    assert added.as_dict() == {"added": [A], "already_listed": []}
    before = await contents(app)
    with pytest.raises(NotPermitted, match=r"vic \(viewer\) may not change"):
        await service.add_numbers(app, as_user(company, VIEWER), ["305-555-0135"])
    with pytest.raises(NotPermitted, match=r"vic \(viewer\) may not change"):
        await service.remove_numbers(app, as_user(company, VIEWER), [A], reason="a customer")
    assert await contents(app) == before
    assert await listed(app, as_user(company, VIEWER)) == [A]
    assert await logged(app, as_user(company, VIEWER)) == [("add", A, "max")]


async def test_a_user_of_another_company_is_refused(app, engine, company):
    await add_staff(app, company)
    await service.add_numbers(app, as_user(company, MANAGER), [A], reason="robot")
    before = await contents(app)
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.add_numbers(app, as_user(company, OUTSIDER), ["305-555-0135"])
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.remove_numbers(app, as_user(company, OUTSIDER), [A], reason="a customer")
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await listed(app, as_user(company, OUTSIDER))
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await logged(app, as_user(company, OUTSIDER))
    assert await contents(app) == before
