"""dialer.services.company on both backends: any user of the company reads its settings, a
manager changes them, a viewer or another company's user is refused, and a refusal or a bad
setting changes nothing."""

from __future__ import annotations

import pytest

from compliance import NotPermitted, accounts
from compliance.accounts import Reply
from compliance.tables import DEFAULT_COUNTRIES
from dialer.services import company as service
from tests.service_callers import MANAGER, OUTSIDER, VIEWER, add_staff, as_user, contents


async def test_a_viewer_reads_the_settings_and_may_not_change_them(app, engine, company):
    await add_staff(app, company)
    shown = await service.read_settings(app, as_user(company, VIEWER))
    assert shown.as_dict() == {
        "name": "acme",
        "default_region": "US",
        "countries": sorted(DEFAULT_COUNTRIES),
        "replies": {
            "opt_out": accounts.default_reply(Reply.OPT_OUT, "acme"),
            "help": accounts.default_reply(Reply.HELP, "acme"),
            "opt_in": accounts.default_reply(Reply.OPT_IN, "acme"),
        },
    }
    before = await contents(app)
    with pytest.raises(NotPermitted, match=r"vic \(viewer\) may not change"):
        await service.change_settings(
            app, as_user(company, VIEWER), countries=["CA"], replies={Reply.HELP: "Call us."}
        )
    assert await contents(app) == before


async def test_a_manager_changes_the_settings(app, engine, company):
    await add_staff(app, company)
    changed = await service.change_settings(
        app,
        as_user(company, MANAGER),
        countries=["us", " ca"],
        replies={Reply.HELP: "Call 305-555-0100."},
    )
    assert changed.countries == ("CA", "US")
    assert changed.replies.help == "Call 305-555-0100."
    assert (
        await service.read_settings(app, as_user(company, VIEWER))
    ).as_dict() == changed.as_dict()


async def test_a_user_of_another_company_is_refused(app, engine, company):
    await add_staff(app, company)
    before = await contents(app)
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.read_settings(app, as_user(company, OUTSIDER))
    with pytest.raises(NotPermitted, match="no user named 'olga'"):
        await service.change_settings(app, as_user(company, OUTSIDER), countries=["CA"])
    assert await contents(app) == before


async def test_a_bad_setting_changes_none(app, engine, company):
    await add_staff(app, company)
    before = await contents(app)
    with pytest.raises(accounts.InvalidCountries, match="not a country code: XX"):
        await service.change_settings(app, as_user(company, MANAGER), countries=["CA", "XX"])
    # The countries are valid and set first: the bad reply rolls them back.
    with pytest.raises(accounts.InvalidReply):
        await service.change_settings(
            app, as_user(company, MANAGER), countries=["CA"], replies={Reply.HELP: " "}
        )
    assert await contents(app) == before
