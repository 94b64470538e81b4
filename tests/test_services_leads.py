"""The leads use cases as the API will call them, for a named user: a viewer reads a lead's
page but changes no lead, a user of another company does neither, and a refusal changes
nothing."""

from __future__ import annotations

import pytest

from compliance import LeadChannel, NotPermitted
from dialer.services import leads
from tests.service_callers import (
    LEADS_CSV,
    MANAGER,
    OUTSIDER,
    VIEWER,
    add_staff,
    as_user,
    contents,
)


@pytest.fixture
async def imported(app, company, tmp_path):
    """The company's staff, and two leads in its list "spring", imported by the operator."""
    await add_staff(app, company)
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV)
    await leads.import_file(app, as_user(company, None), path, "spring")
    return path


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_sets_a_lead_s_channels(app, company, imported, user):
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await leads.set_channels(app, as_user(company, user), "L1", frozenset({LeadChannel.SMS}))

    assert await contents(app) == before
    changed = await leads.set_channels(
        app, as_user(company, MANAGER), "L1", frozenset({LeadChannel.SMS}), reason="asked"
    )
    assert changed.as_dict() == {"lead_id": changed.lead_id, "channels": ["sms"]}
    page = await leads.lead_page(app, as_user(company, MANAGER), "L1")
    assert page.as_dict()["dnc"]["updated_by"] == MANAGER


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_imports_leads(app, company, imported, user):
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await leads.import_file(app, as_user(company, user), imported, "autumn")

    assert await contents(app) == before


async def test_a_viewer_reads_a_lead_s_page_and_an_outsider_does_not(app, company, imported):
    page = await leads.lead_page(app, as_user(company, VIEWER), "L2")

    assert page.as_dict()["phone"] == "+12125550123"
    assert page.as_dict()["company_lists"] == page.as_dict()["attempts"] == []
    with pytest.raises(NotPermitted):
        await leads.lead_page(app, as_user(company, OUTSIDER), "L2")


async def test_an_unknown_lead_is_refused_by_name(app, company, imported):
    before = await contents(app)

    with pytest.raises(leads.UnknownLead, match="'L9'"):
        await leads.set_channels(app, as_user(company, MANAGER), "L9", frozenset())

    assert await contents(app) == before
