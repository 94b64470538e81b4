"""The opt-out IVR end to end on both backends: the prompt an answered call hears, the key
pressed reaching us only through the Gather's action, and the opt-out on the company's DNC
list before the caller hears it confirmed, whatever happens to the status callbacks."""

from __future__ import annotations

import asyncio
import os
import sys
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from campaigns import CampaignState, repository
from campaigns import attempts as attempt_store
from campaigns.statuses import DEFAULT_STATUSES_PATH
from compliance import Channel, accounts, leads, registry, sheets
from compliance.phone import to_key
from compliance.tables import attempts, dnc_entries
from compliance.tables import leads as leads_table
from dialer.carriers import BadCallback, compute_signature
from dialer.carriers.simulator import Scenario
from dialer.cli import main
from dialer.clock import SimClock
from dialer.dispatch import Dispatcher
from dialer.runner import simulated_engine
from tests.support import NOW
from tests.test_engine import (
    CAMPAIGN,
    COUNTRIES,
    LEADS,
    START,
    numbers_in_calling_hours,
    rows,
    state_of,
)

OPTING_OUT = "+13055550101"
SEVEN = CAMPAIGN.replace('ivr_optout_digit = "9"', 'ivr_optout_digit = "7"')
PRESSES_SEVEN = {
    "seed": 7,
    "default": {"no-answer": 1.0},
    "outcome": [{"match": OPTING_OUT, "result": "answered", "digits": "7"}],
}
PRESSES_NINE = {**PRESSES_SEVEN, "outcome": [{**PRESSES_SEVEN["outcome"][0], "digits": "9"}]}
GOODBYE = "You will not receive these calls again. Goodbye."
ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"


async def setup(app, company, tmp_path, campaign=CAMPAIGN, optout_digit="9"):
    """The leads of tests.test_engine, a status book whose opt-out key is `optout_digit`, and
    the campaign."""
    path = tmp_path / "leads.csv"
    path.write_text(LEADS)
    book = DEFAULT_STATUSES_PATH.read_text().replace('digits = "9"', f'digits = "{optout_digit}"')
    async with app.transaction() as conn:
        await repository.save_status_book(conn, company, book, "ana", NOW)
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        return await repository.create_campaign(conn, company, campaign, NOW)


async def on_dnc_list(app, company, number: str) -> bool:
    async with app.transaction() as conn:
        return bool(await registry.blocked(conn, company, [number], Channel.VOICE, NOW))


def record_dispatcher(monkeypatch) -> dict[str, list]:
    """Notes every status callback's form and every answer's TwiML the engine handles."""
    seen: dict[str, list] = {"callbacks": [], "answers": []}
    on_callback, on_answer = Dispatcher.on_callback, Dispatcher.on_answer

    async def callback(self, attempt_id, params):
        seen["callbacks"].append(dict(params))
        await on_callback(self, attempt_id, params)

    async def answer(self, attempt_id, params):
        twiml = await on_answer(self, attempt_id, params)
        seen["answers"].append((attempt_id, twiml))
        return twiml

    monkeypatch.setattr(Dispatcher, "on_callback", callback)
    monkeypatch.setattr(Dispatcher, "on_answer", answer)
    return seen


def call_to(sim, number: str) -> dict:
    [call] = [call for call in sim.calls if call["to"] == number]
    return call


@pytest.mark.parametrize(
    ("prompt", "spoken"),
    [
        (None, "To stop receiving these calls, press 7."),
        ("Press {digit} and we will never call again.", "Press 7 and we will never call again."),
        ("Press {digit} & we stop <for good>.", "Press 7 & we stop <for good>."),
    ],
)
async def test_an_opt_out_key_of_7_is_spoken_pressed_through_the_gather_and_blocks_the_number(
    app, company, tmp_path, monkeypatch, prompt, spoken
):
    campaign = SEVEN + (f'ivr_prompt = "{prompt}"\n' if prompt else "")
    await setup(app, company, tmp_path, campaign, optout_digit="7")
    seen = record_dispatcher(monkeypatch)

    async with simulated_engine(app, Scenario.from_dict(PRESSES_SEVEN), SimClock(START)) as (
        engine,
        sim,
    ):
        finished = await engine.run_until_done(company, "spring")
        base = engine.callback_base

    assert finished.state is CampaignState.COMPLETED
    call = call_to(sim, OPTING_OUT)
    assert call["said"] == [spoken, GOODBYE]
    assert call["pressed"] == "7"
    assert call["gather_answers"] == [200]
    assert call["error"] is None
    assert await on_dnc_list(app, company, OPTING_OUT)
    ended = await rows(
        app,
        select(attempts.c.id, attempts.c.status, attempts.c.digits).where(
            attempts.c.number == 13055550101
        ),
    )
    [(attempt_id, status, digits)] = ended
    assert (status, digits) == ("DNC_REQUESTED", "7")
    # The key reached us through the Gather only: no status callback carries it.
    assert seen["callbacks"], "the status callbacks never arrived"
    assert all("Digits" not in form for form in seen["callbacks"])
    # The answer is TwiML: the prompt in a Gather of one key, posted back to an absolute URL.
    [(answered, twiml)] = seen["answers"]
    assert answered == attempt_id
    document = ET.fromstring(twiml)
    assert document.tag == "Response"
    [gather] = document.findall("Gather")
    assert gather.get("numDigits") == "1"
    action = urlparse(gather.get("action"))
    assert (action.scheme, action.netloc) == ("http", urlparse(base).netloc)
    assert (action.path, parse_qs(action.query)) == (
        "/webhooks/gather",
        {"attempt": [str(answered)]},
    )
    assert [say.text for say in gather.findall("Say")] == [spoken]


async def placed_attempt(app, company, campaign, sid: str, number: str = OPTING_OUT) -> int:
    """An attempt to `number` the carrier has placed as call `sid`, not yet ended."""
    async with app.transaction() as conn:
        found = await conn.execute(
            select(leads_table.c.id).where(leads_table.c.phone == to_key(number))
        )
        lead_id = found.scalar_one()
        [attempt_id] = await attempt_store.record_intents(
            conn, company, [(lead_id, number)], Channel.VOICE, NOW, campaign_id=campaign.id
        )
        await attempt_store.mark_placed(conn, [(attempt_id, sid)])
    return attempt_id


def call_form(sid: str, **more: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": "+13055550000",
        "To": OPTING_OUT,
        **more,
    }


async def post(url: str, form: dict[str, str], signature: str | None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers=headers) as response,
    ):
        return response.status, await response.text()


async def dnc_count(app) -> int:
    return len(await rows(app, select(dnc_entries.c.number)))


async def attempt_row(app, attempt_id: int):
    [row] = await rows(app, select(attempts).where(attempts.c.id == attempt_id))
    return row


async def test_an_opt_out_key_is_on_the_dnc_list_when_the_gather_is_answered(
    app, company, tmp_path
):
    campaign = await setup(app, company, tmp_path)
    sid = "CA" + "a" * 32
    attempt_id = await placed_attempt(app, company, campaign, sid)

    async with simulated_engine(app, Scenario(), SimClock(START)) as (engine, sim):
        url = f"{engine.callback_base}/webhooks/gather?attempt={attempt_id}"
        form = call_form(sid, Digits="9")
        signature = compute_signature(sim.auth_token, url, form)
        # Twilio's own library agrees that this is how Twilio signs the request.
        assert RequestValidator(sim.auth_token).validate(url, form, signature)
        status, twiml = await post(url, form, signature)
        listed_at_answer = await on_dnc_list(app, company, OPTING_OUT)
        row = await attempt_row(app, attempt_id)

    assert status == 200
    assert listed_at_answer
    document = ET.fromstring(twiml)
    assert [verb.tag for verb in document] == ["Say", "Hangup"]
    assert document.find("Say").text == GOODBYE
    # No status callback came: the attempt is still under way, its key recorded.
    assert (row.state, row.digits, row.status) == ("placed", "9", None)


async def test_a_key_that_is_not_the_opt_out_hangs_up_and_blocks_nothing(app, company, tmp_path):
    campaign = await setup(app, company, tmp_path)
    sid = "CA" + "b" * 32
    attempt_id = await placed_attempt(app, company, campaign, sid)

    async with simulated_engine(app, Scenario(), SimClock(START)) as (engine, sim):
        url = f"{engine.callback_base}/webhooks/gather?attempt={attempt_id}"
        form = call_form(sid, Digits="3")
        status, twiml = await post(url, form, compute_signature(sim.auth_token, url, form))

    assert status == 200
    assert [verb.tag for verb in ET.fromstring(twiml)] == ["Hangup"]
    assert not await on_dnc_list(app, company, OPTING_OUT)
    assert (await attempt_row(app, attempt_id)).digits == "3"


@pytest.mark.parametrize("hook", ["answer", "gather"])
@pytest.mark.parametrize("signature", ["forged", "unsigned", "another token", "another url"])
async def test_a_forged_or_unsigned_answer_or_gather_is_refused_and_changes_nothing(
    app, company, tmp_path, hook, signature
):
    campaign = await setup(app, company, tmp_path)
    sid = "CA" + "c" * 32
    attempt_id = await placed_attempt(app, company, campaign, sid)

    async with simulated_engine(app, Scenario(), SimClock(START)) as (engine, sim):
        url = f"{engine.callback_base}/webhooks/{hook}?attempt={attempt_id}"
        form = call_form(sid, Digits="9")
        signed = {
            "forged": "bad",
            "unsigned": None,
            "another token": compute_signature("f" * 32, url, form),
            "another url": compute_signature(sim.auth_token, url.replace("gather", "answer"), form)
            if hook == "gather"
            else compute_signature(sim.auth_token, url + "0", form),
        }[signature]
        status, _ = await post(url, form, signed)

    assert status == 403
    assert await dnc_count(app) == 0
    row = await attempt_row(app, attempt_id)
    assert (row.state, row.carrier_sid, row.digits) == ("placed", sid, None)


@pytest.mark.parametrize("hook", ["answer", "gather"])
async def test_an_answer_or_gather_naming_another_call_is_refused_and_changes_nothing(
    app, company, tmp_path, hook
):
    campaign = await setup(app, company, tmp_path)
    sid, other = "CA" + "d" * 32, "CA" + "e" * 32
    attempt_id = await placed_attempt(app, company, campaign, sid)

    async with simulated_engine(app, Scenario(), SimClock(START)) as (engine, sim):
        url = f"{engine.callback_base}/webhooks/{hook}?attempt={attempt_id}"
        form = call_form(other, Digits="9")
        status, text = await post(url, form, compute_signature(sim.auth_token, url, form))

    assert status == 400
    assert other in text
    assert await dnc_count(app) == 0
    row = await attempt_row(app, attempt_id)
    assert (row.state, row.carrier_sid, row.digits) == ("placed", sid, None)


@pytest.mark.parametrize("query", ["", "?attempt=", "?attempt=abc", "?attempt=0", "?attempt=999"])
async def test_a_gather_naming_no_attempt_of_ours_is_refused(app, company, tmp_path, query):
    await setup(app, company, tmp_path)

    async with simulated_engine(app, Scenario(), SimClock(START)) as (engine, sim):
        url = f"{engine.callback_base}/webhooks/gather{query}"
        form = call_form("CA" + "f" * 32, Digits="9")
        status, _ = await post(url, form, compute_signature(sim.auth_token, url, form))

    assert status == 400
    assert await dnc_count(app) == 0


async def test_settling_an_attempt_whose_callbacks_were_lost_keeps_its_recorded_keypress(
    app, company, tmp_path, monkeypatch
):
    await setup(app, company, tmp_path)

    async def refuse(self, attempt_id, params):
        raise BadCallback("lost on the way")

    monkeypatch.setattr(Dispatcher, "on_callback", refuse)

    async with simulated_engine(app, Scenario.from_dict(PRESSES_NINE), SimClock(START)) as (
        engine,
        sim,
    ):
        engine.settle_timeout = 0.2
        sim.callback_retries = 0
        finished = await asyncio.wait_for(engine.run_until_done(company, "spring"), 60)

    assert finished.state is CampaignState.COMPLETED
    assert call_to(sim, OPTING_OUT)["pressed"] == "9"
    assert len(sim.refused_callbacks) == len(sim.calls)  # every status callback was lost
    ended = await rows(
        app,
        select(attempts.c.state, attempts.c.result, attempts.c.digits, attempts.c.status).where(
            attempts.c.number == 13055550101
        ),
    )
    assert ended == [("ended", "answered", "9", "DNC_REQUESTED")]
    assert await on_dnc_list(app, company, OPTING_OUT)


CLI_ENV = {
    "DIALER_LOG_LEVEL": "WARNING",
    "DIALER_CARRIER": "twilio",
    "DIALER_CARRIER_ACCOUNT_SID": ACCOUNT,
    "DIALER_CARRIER_AUTH_TOKEN": TOKEN,
    "DIALER_WEBHOOK_PORT": "0",
}


async def test_a_forecast_on_a_simulated_clock_is_refused_with_twilio_and_writes_nothing(
    app, company, database_url, tmp_path
):
    await setup(app, company, tmp_path)
    env = {
        **CLI_ENV,
        "DIALER_DATABASE_URL": database_url,
        "DIALER_CARRIER_URL": "http://127.0.0.1:9",
    }
    command = ["campaign", "run", "spring", "--until-done", "--company", "acme"]
    command += ["--sim-clock", "2026-03-10T13:00Z"]

    result = await asyncio.to_thread(CliRunner().invoke, main, command, env=env)

    assert result.exit_code == 1
    assert "--sim-clock" in result.stderr
    assert "twilio" in result.stderr
    assert "Traceback" not in result.output
    assert await state_of(app, company, "spring") is CampaignState.DRAFT
    assert await rows(app, select(attempts.c.id)) == []


async def test_campaign_run_with_twilio_configured_dials_through_that_carrier(
    app, company, database_url, tmp_path
):
    numbers = numbers_in_calling_hours()
    path = tmp_path / "leads.csv"
    path.write_text("phone,external_id\n" + "".join(f"{n},T{i}\n" for i, n in enumerate(numbers)))
    anytime = "\n".join(x for x in CAMPAIGN.splitlines() if not x.startswith("window"))
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await repository.create_campaign(conn, company, anytime, NOW)
    simulator = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "dialer.carriers.simulator", "--port", "0"],
        *["--account-sid", ACCOUNT, "--auth-token", TOKEN, "--callback-delay", "0"],
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(simulator.stdout.readline(), 15)
        url = line.decode().split()[-1]
        assert url.startswith("http://127.0.0.1:"), line
        env = {**os.environ, **CLI_ENV, "DIALER_DATABASE_URL": database_url}
        env["DIALER_CARRIER_URL"] = url
        run = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "dialer", "campaign", "run", "spring", "--until-done"],
            *["--company", "acme"],
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 60)
    finally:
        simulator.terminate()
        await simulator.wait()

    assert run.returncode == 0, err.decode()
    assert "is completed" in out.decode()
    placed = await rows(app, select(attempts.c.number, attempts.c.carrier_sid, attempts.c.status))
    assert sorted(f"+{number}" for number, _, _ in placed) == sorted(numbers)
    assert all(sid.startswith("CA") and len(sid) == 34 for _, sid, _ in placed)
    assert [status for _, _, status in placed] == ["ANSWERED", "ANSWERED"]
