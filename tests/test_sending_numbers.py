"""A company's sending numbers, each one company's at most, and the texts it replies with.

An inbound text belongs to the company owning its To number (`numbers.company_owning`);
`campaign create` registers the campaign's caller_id. Until a company sets its own, it
answers an opt-out, HELP and START with short texts naming it and saying how to opt out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from campaigns import InvalidDefinition, repository
from campaigns.tables import campaigns
from compliance import accounts, leads, numbers, sheets
from compliance.tables import companies, sending_numbers
from dialer.database import create_engine
from tests.support import NOW
from tests.test_campaign_locks import concurrently

Invoke = Callable[..., Result]

CAMPAIGN = """
name = "{name}"
channel = "voice"
leads = "spring"
caller_id = "{caller_id}"
max_attempts = 1
max_concurrent = 5
attempts_per_second = 10
window = {{ start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri"] }}
retry = {{ NO_ANSWER = "4h" }}
ivr_optout_digit = "9"
"""
LATER = NOW + timedelta(hours=1)


async def _rows(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: sorted(map(tuple, await conn.execute(select(table))), key=repr)
                for table in (companies, sending_numbers, campaigns)
            }
    finally:
        await engine.dispose()


def rows(url: str) -> dict[str, list[tuple]]:
    """The rows of the tables these commands change: what 'nothing changed' compares."""
    return asyncio.run(_rows(url))


async def _give_other_company(url: str, number: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            other, _ = await accounts.ensure_company(conn, "globex", NOW)
            await numbers.add_sending_numbers(conn, other, [number], NOW)
    finally:
        await engine.dispose()


def give_other_company(url: str, number: str) -> None:
    """Register `number` for a company 'globex' (created if missing)."""
    asyncio.run(_give_other_company(url, number))


async def import_spring_leads(conn, company, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("phone,external_id\n(212) 555-0102,L1\n")
    await leads.import_leads(
        conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
    )


# --- storage -----------------------------------------------------------------------------------


async def test_numbers_are_added_once_and_listed_with_who_added_them(engine, company):
    async with engine.begin() as conn:
        first = await numbers.add_sending_numbers(
            conn, company, ["+13055550101", "+13055550100"], NOW, "mia"
        )
        again = await numbers.add_sending_numbers(
            conn, company, ["+13055550100", "+13055550102"], LATER, "max"
        )
        listed = await numbers.sending_numbers(conn, company)

    assert first == ["+13055550100", "+13055550101"]
    assert again == ["+13055550102"]
    assert listed == [
        numbers.SendingNumber("+13055550100", NOW, "mia"),
        numbers.SendingNumber("+13055550101", NOW, "mia"),
        numbers.SendingNumber("+13055550102", LATER, "max"),
    ]


async def test_a_number_another_company_owns_is_refused_and_nothing_is_added(
    engine, company, database_url
):
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
        await numbers.add_sending_numbers(conn, other, ["+13055550100"], NOW)
    before = await _rows(database_url)

    with pytest.raises(numbers.NumberOwnedElsewhere) as refused:
        async with engine.begin() as conn:
            await numbers.add_sending_numbers(conn, company, ["+13055550101", "+13055550100"], NOW)

    assert str(refused.value) == ("+13055550100 is owned by another company; nothing was changed")
    assert await _rows(database_url) == before


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_of_two_companies_adding_a_number_at_once_the_second_is_refused(engine, company):
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)

    adding = await concurrently(
        engine,
        lambda conn: numbers.add_sending_numbers(conn, other, ["+13055550100"], NOW),
        lambda conn: numbers.add_sending_numbers(conn, company, ["+13055550100"], NOW),
    )

    with pytest.raises(numbers.NumberOwnedElsewhere, match="owned by another company"):
        adding.result()
    async with engine.connect() as conn:
        assert await numbers.company_owning(conn, "+13055550100") == other
        assert await numbers.sending_numbers(conn, company) == []


async def test_the_company_owning_a_number_is_found_and_no_company_owns_others(engine, company):
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
        await numbers.add_sending_numbers(conn, company, ["+13055550100"], NOW)
        await numbers.add_sending_numbers(conn, other, ["+13055550109"], NOW)

        assert await numbers.company_owning(conn, "+13055550100") == company
        assert await numbers.company_owning(conn, "+13055550109") == other
        assert await numbers.company_owning(conn, "+13055550199") is None


async def test_creating_a_campaign_registers_its_caller_id_once(engine, company, tmp_path):
    async with engine.begin() as conn:
        await import_spring_leads(conn, company, tmp_path)
        await numbers.add_sending_numbers(conn, company, ["+13055550100"], NOW, "mia")
        for name, caller_id in (("spring", "+13055550000"), ("fall", "+13055550100")):
            await repository.create_campaign(
                conn, company, CAMPAIGN.format(name=name, caller_id=caller_id), LATER
            )
        listed = await numbers.sending_numbers(conn, company)
        owner = await numbers.company_owning(conn, "+13055550000")

    assert listed == [
        numbers.SendingNumber("+13055550000", LATER, accounts.LOCAL_OPERATOR),
        numbers.SendingNumber("+13055550100", NOW, "mia"),
    ]
    assert owner == company


async def test_a_campaign_calling_from_another_companys_number_is_refused(
    engine, company, tmp_path, database_url
):
    async with engine.begin() as conn:
        await import_spring_leads(conn, company, tmp_path)
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
        await numbers.add_sending_numbers(conn, other, ["+13055550000"], NOW)
    definition = CAMPAIGN.format(name="spring", caller_id="+13055550000")
    before = await _rows(database_url)

    with pytest.raises(InvalidDefinition) as refused:
        async with engine.begin() as conn:
            await repository.create_campaign(conn, company, definition, NOW)

    assert str(refused.value) == (
        "caller_id: +13055550000 is owned by another company; nothing was changed"
    )
    assert await _rows(database_url) == before


async def test_replies_default_to_the_companys_name_and_how_to_opt_out(engine, company):
    async with engine.begin() as conn:
        replies = await accounts.reply_texts(conn, company)

    assert replies == accounts.ReplyTexts(
        opt_out="acme: you are unsubscribed and will get no more messages. "
        "Reply START to resubscribe.",
        help="acme: reply STOP to unsubscribe, START to resubscribe.",
        opt_in="acme: you are subscribed again. Reply STOP to unsubscribe.",
    )


def test_the_default_replies_fit_one_sms_segment_for_a_name_of_up_to_70_characters():
    name = "N" * accounts.MAX_NAME_IN_ONE_SEGMENT

    lengths = {reply: len(accounts.default_reply(reply, name)) for reply in accounts.Reply}

    assert accounts.MAX_NAME_IN_ONE_SEGMENT == 70
    assert max(lengths.values()) <= 160


async def test_a_reply_set_replaces_its_default_only(engine, company):
    async with engine.begin() as conn:
        await accounts.set_replies(
            conn, company, {accounts.Reply.HELP: "ACME: call us\r\nat 305-555-0100"}
        )
        replies = await accounts.reply_texts(conn, company)

    assert replies.help == "ACME: call us\r\nat 305-555-0100"
    assert replies.opt_out == accounts.default_reply(accounts.Reply.OPT_OUT, "acme")
    assert replies.opt_in == accounts.default_reply(accounts.Reply.OPT_IN, "acme")


# --- the command line --------------------------------------------------------------------------


def test_numbers_in_any_format_are_added_and_listed(dialer: Invoke):
    added = dialer("numbers", "add", "(305) 555-0100", "+1 305 555 0101", "305.555.0100")
    again = dialer("numbers", "add", "3055550101")
    table = dialer("numbers", "list")
    listed = json.loads(dialer("numbers", "list", "--json").stdout)

    assert added.exit_code == 0
    assert added.stdout == "Added 2 sending numbers.\n"
    assert again.stdout == "1 number was registered already; nothing was added.\n"
    assert [(n["number"], n["added_by"]) for n in listed] == [
        ("+13055550100", "cli"),
        ("+13055550101", "cli"),
    ]
    assert all(n["added_at"].endswith("+00:00") for n in listed)
    assert "+13055550101" in table.stdout


def test_numbers_add_says_which_were_new(dialer: Invoke):
    dialer("numbers", "add", "305-555-0100")

    added = dialer("numbers", "add", "305-555-0100", "305-555-0101", "305-555-0102")

    assert added.stdout == "Added 2 sending numbers; 1 number was registered already.\n"


def test_numbers_add_records_the_user_whose_role_allows_it(dialer: Invoke, database_url):
    for user, role in (("max", "manager"), ("vic", "viewer")):
        assert dialer("users", "add", user, "--role", role).exit_code == 0
    before = rows(database_url)

    refused = dialer("numbers", "add", "305-555-0101", "--by", "vic")
    unchanged = rows(database_url)
    added = dialer("numbers", "add", "305-555-0100", "--by", "max")
    listed = json.loads(dialer("numbers", "list", "--json").stdout)

    assert refused.exit_code == 1
    assert "vic (viewer) may not change lists" in refused.stderr
    assert "sending numbers" in refused.stderr
    assert unchanged == before
    assert added.exit_code == 0
    assert [(n["number"], n["added_by"]) for n in listed] == [("+13055550100", "max")]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("305-555-0100", "12"), 1, "invalid number: '12': too short"),
        (("305-555-0100", "not a number"), 1, "'not a number': no digits"),
        (("305-555-0100", "+13055550109"), 1, "+13055550109 is owned by another company"),
        (("305-555-0100", "--company", "nobody"), 1, "no company named 'nobody'"),
        ((), 2, "Missing argument 'NUMBER...'"),
    ],
)
def test_bad_numbers_are_refused_and_change_nothing(
    dialer: Invoke, database_url, args, code, message
):
    give_other_company(database_url, "+13055550109")
    before = rows(database_url)

    refused = dialer("numbers", "add", *args)

    assert refused.exit_code == code
    assert message in refused.stderr
    assert "globex" not in refused.output
    assert "Traceback" not in refused.output
    assert rows(database_url) == before


def test_campaign_create_refuses_another_companys_caller_id(dialer: Invoke, database_url, tmp_path):
    give_other_company(database_url, "+13055550000")
    (tmp_path / "leads.csv").write_text("phone,external_id\n(212) 555-0102,L1\n")
    assert dialer("leads", "import", str(tmp_path / "leads.csv"), "--list", "spring").exit_code == 0
    definition = tmp_path / "spring.toml"
    definition.write_text(CAMPAIGN.format(name="spring", caller_id="+13055550000"))
    before = rows(database_url)

    refused = dialer("campaign", "create", "--from", str(definition))

    assert refused.exit_code == 1
    assert "spring.toml: caller_id: +13055550000 is owned by another company" in refused.stderr
    assert rows(database_url) == before


def test_replies_are_shown_and_set(dialer: Invoke):
    shown = json.loads(dialer("company", "show", "--json").stdout)
    changed = dialer(
        "company",
        "set",
        *("--opt-out-reply", "You are unsubscribed from ACME messages. No more messages."),
        *("--help-reply", "ACME: call 305-555-0100. Reply STOP to unsubscribe."),
    )
    now = json.loads(dialer("company", "show", "--json").stdout)
    text = dialer("company", "show").stdout

    assert shown["replies"] == {
        "opt_out": "default: you are unsubscribed and will get no more messages. "
        "Reply START to resubscribe.",
        "help": "default: reply STOP to unsubscribe, START to resubscribe.",
        "opt_in": "default: you are subscribed again. Reply STOP to unsubscribe.",
    }
    assert changed.exit_code == 0
    assert changed.stdout == (
        "Company 'default' now replies to an opt-out with: "
        "You are unsubscribed from ACME messages. No more messages.\n"
        "Company 'default' now replies to HELP with: "
        "ACME: call 305-555-0100. Reply STOP to unsubscribe.\n"
    )
    assert now["replies"] == {
        "opt_out": "You are unsubscribed from ACME messages. No more messages.",
        "help": "ACME: call 305-555-0100. Reply STOP to unsubscribe.",
        "opt_in": shown["replies"]["opt_in"],
    }
    assert now["countries"] == shown["countries"]
    assert "Reply to HELP: ACME: call 305-555-0100. Reply STOP to unsubscribe.\n" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--help-reply", ""), "a reply needs a text that is not empty or blank"),
        (("--opt-out-reply", "  "), "a reply needs a text that is not empty or blank"),
        (("--opt-in-reply", "x" * 321), "at most 320 characters; this one has 321"),
        (("--help-reply", "call\x07us"), "control characters"),
        (("--help-reply", "ok", "--opt-in-reply", ""), "not empty or blank"),
        ((), "give a setting to change"),
    ],
)
def test_bad_replies_are_refused_and_change_nothing(dialer: Invoke, database_url, args, message):
    before = rows(database_url)

    refused = dialer("company", "set", *args)

    assert refused.exit_code == 2
    assert message in refused.stderr
    assert "Traceback" not in refused.output
    assert rows(database_url) == before
