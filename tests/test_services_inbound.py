"""dialer.services.inbound on both backends: any user of the company reads its inbound texts
and review queue; a viewer may not decide a review, a manager without can_remove_dnc may
keep but not release, another company's user is refused, and a refusal changes nothing."""

from __future__ import annotations

import pytest

from campaigns import inbound
from campaigns.inbound import InboundText
from campaigns.keywords import load_keyword_actions
from compliance import NotPermitted
from compliance.numbers import add_sending_numbers
from dialer.services import inbound as service
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, add_staff, as_user, contents
from tests.support import NOW

OURS = "+13055550100"
SENDER = "+13055550142"


@pytest.fixture
async def pending(app, engine, company) -> int:
    """The staff, and the id of a presumed opt-out waiting for review."""
    await add_staff(app, company)
    async with app.transaction() as conn:
        await add_sending_numbers(conn, company, [OURS], NOW)
        text = InboundText("SM1", SENDER, OURS, "please stop texting me")
        received = await inbound.receive(conn, text, NOW, load_keyword_actions())
    return received.id


async def listed(app, caller) -> list[tuple[int, str]]:
    async with service.messages(app, caller) as page:
        return [(message.id, message.review) async for message in page.rows]


async def queued(app, caller) -> list[int]:
    async with service.review_queue(app, caller) as page:
        return [message.id async for message in page.rows]


async def test_a_viewer_reads_the_texts_and_may_not_decide(app, engine, pending, company):
    assert await listed(app, as_user(company, VIEWER)) == [(pending, "pending")]
    assert await queued(app, as_user(company, VIEWER)) == [pending]
    before = await contents(app)
    with pytest.raises(NotPermitted, match=r"vic \(viewer\) may not change"):
        await service.resolve(
            app, as_user(company, VIEWER), pending, release=False, reason="it stands"
        )
    with pytest.raises(NotPermitted, match=r"max \(manager\) lacks the can_remove_dnc"):
        await service.resolve(
            app, as_user(company, MANAGER), pending, release=True, reason="no opt-out"
        )
    assert await contents(app) == before
    kept = await service.resolve(
        app, as_user(company, MANAGER), pending, release=False, reason="it stands"
    )
    view = service.resolved_view(kept)
    assert view["removed_from"] == []
    assert (view["message"]["review"], view["message"]["reviewed_by"]) == ("kept", "max")
    assert await queued(app, as_user(company, VIEWER)) == []


async def test_a_user_of_another_company_is_refused(app, engine, pending, company):
    before = await contents(app)
    for read in (listed, queued):
        with pytest.raises(NotPermitted, match="no user named 'olga'"):
            await read(app, as_user(company, OUTSIDER))
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.resolve(
            app, as_user(company, OUTSIDER), pending, release=True, reason="no opt-out"
        )
    assert await contents(app) == before
