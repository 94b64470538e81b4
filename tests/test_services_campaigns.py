"""The campaign use cases as the API will call them, for a named user: a viewer reads and
forecasts campaigns but creates, starts or runs none, a user of another company does
nothing, and a refusal changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import CampaignAction, CampaignState
from compliance import NotPermitted
from dialer.services import campaigns, leads
from tests.service_callers import (
    LEADS_CSV,
    MANAGER,
    OUTSIDER,
    VIEWER,
    add_staff,
    as_user,
    contents,
)
from tests.support import NOW

CAMPAIGN = Path("config/examples/campaign.toml")  # "spring-calls", of the list "spring"
DEFINITION = CAMPAIGN.read_text()


@pytest.fixture
async def staffed(app, company, tmp_path):
    """The company's staff and the leads of the list "spring"."""
    await add_staff(app, company)
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV)
    await leads.import_file(app, as_user(company, None), path, "spring")


@pytest.fixture
async def drafted(app, company, staffed):
    return await campaigns.create_campaign(app, as_user(company, MANAGER), CAMPAIGN)


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_creates_a_campaign(app, company, staffed, user):
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await campaigns.create_campaign(app, as_user(company, user), CAMPAIGN)

    assert await contents(app) == before


@pytest.mark.parametrize("user", [VIEWER, OUTSIDER])
async def test_only_a_user_who_may_change_starts_or_runs_a_campaign(app, company, drafted, user):
    caller = as_user(company, user)
    before = await contents(app)

    with pytest.raises(NotPermitted):
        await campaigns.change_state(app, caller, drafted.name, CampaignAction.START)
    with pytest.raises(NotPermitted):
        await campaigns.run_campaign(app, caller, drafted.name, sim_clock=NOW)

    assert await contents(app) == before
    started = await campaigns.change_state(
        app, as_user(company, MANAGER), drafted.name, CampaignAction.START
    )
    assert started.state is CampaignState.RUNNING


async def test_a_viewer_reads_and_forecasts_campaigns_and_an_outsider_does_not(
    app, company, drafted
):
    viewer, outsider = as_user(company, VIEWER), as_user(company, OUTSIDER)
    before = await contents(app)

    listed = await campaigns.list_campaigns(app, viewer)
    shown = await campaigns.find_campaign(app, viewer, drafted.name)
    forecast = await campaigns.forecast_campaign(app, viewer, drafted.name, start=NOW, days=1)

    assert [campaigns.campaign_view(found) for found in listed] == [
        campaigns.campaign_view(drafted)
    ]
    assert campaigns.campaign_detail(shown)["definition"] == DEFINITION
    assert forecast.report.leads_in_queue == 2
    assert await contents(app) == before
    for read in (
        campaigns.list_campaigns(app, outsider),
        campaigns.find_campaign(app, outsider, drafted.name),
        campaigns.forecast_campaign(app, outsider, drafted.name, start=NOW),
    ):
        with pytest.raises(NotPermitted):
            await read
