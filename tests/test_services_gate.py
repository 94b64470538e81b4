"""The gate's dry run as the API will call it, for a named user: a viewer may ask, a user of
another company may not, and an unknown lead is refused by name."""

from __future__ import annotations

import pytest

from compliance import DncList, NotPermitted
from dialer.services import dnc, gate
from dialer.services.leads import UnknownLead
from tests.service_callers import OUTSIDER, VIEWER, add_staff, as_user
from tests.support import NOW

NUMBER = "(212) 555-0123"


@pytest.fixture
async def staffed(app, company):
    await add_staff(app, company)


async def test_a_viewer_asks_the_gate_and_an_outsider_does_not(app, company, staffed):
    await dnc.add_numbers(app, as_user(company, None), [NUMBER], DncList.DNC)

    decision = await gate.check_attempt(app, as_user(company, VIEWER), NUMBER, at=NOW)

    assert decision.allowed is False
    assert "COMPANY_DNC" in [reason["code"] for reason in decision.as_dict()["reasons"]]
    with pytest.raises(NotPermitted):
        await gate.check_attempt(app, as_user(company, OUTSIDER), NUMBER, at=NOW)


async def test_an_unknown_lead_is_refused_by_name(app, company, staffed):
    with pytest.raises(UnknownLead, match="'L9'"):
        await gate.check_attempt(app, as_user(company, VIEWER), NUMBER, at=NOW, lead="L9")
