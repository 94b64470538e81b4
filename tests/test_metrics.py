"""The node's Prometheus metrics, scraped over HTTP from the real webhook server while a real
dispatcher dials the simulator: every count equals what the database recorded, on both
databases, and no label carries a number or an id."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from campaigns import repository
from campaigns.tables import call_events, skips
from compliance import accounts, leads, sheets
from compliance.tables import attempts, dnc_events
from dialer.api import api_app
from dialer.carriers.simulator import Reply, Scenario, Simulator
from dialer.clock import Clock, SimClock, WallClock
from dialer.dispatch import Dispatcher
from dialer.metrics import Metrics
from dialer.probes import Probes, Readiness
from dialer.runner import incoming_texts_url, listening, simulated_carrier
from dialer.services import Caller
from dialer.services import tokens as token_service
from tests.service_callers import MANAGER, add_staff
from tests.support import NOW
from tests.test_dispatch_nodes import add_leads, create
from tests.test_engine import (
    CAMPAIGN,
    COUNTRIES,
    SCENARIO,
    START,
    numbers_in_calling_hours,
    prepare,
    rows,
)
from tests.test_inbound import LEADS as SMS_LEADS
from tests.test_inbound import OURS, SMS_CAMPAIGN

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# A phone number, a lead, attempt or call id: digits that a label must never carry.
LOOKS_LIKE_AN_ID = re.compile(r"\d{4,}|^(CA|SM)[0-9a-f]{8,}")
# Every label is one of a closed vocabulary or a name people gave (`le`: a histogram bucket).
LABELS = {"company", "campaign", "channel", "status", "reason", "kind", "list", "source", "le"}


@asynccontextmanager
async def observed_engine(
    app, scenario: Scenario, clock: Clock
) -> AsyncIterator[tuple[Dispatcher, Simulator, str]]:
    """A dispatcher on the simulator whose webhook server serves its metrics; yields both
    and the server's base URL."""
    async with simulated_carrier(scenario) as (carrier, simulator):
        metrics = Metrics(app)
        dispatcher = Dispatcher(app, carrier, clock=clock, observer=metrics)
        probes = Probes(app, Readiness(), metrics)
        api = api_app(app, metrics)
        async with listening(dispatcher, "127.0.0.1", 0, api=api, probes=probes) as url:
            simulator.sms_url = incoming_texts_url(url)
            yield dispatcher, simulator, url


async def scrape(url: str) -> Samples:
    """The samples /metrics answers, once their labels are known ones and no label value
    looks like an id."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert {k for _, pairs in samples for k, _ in pairs} <= LABELS
    labels = {v for _, pairs in samples for _, v in pairs}
    assert [v for v in labels if LOOKS_LIKE_AN_ID.search(v)] == []
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 for a series never incremented, as Prometheus reads it."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


async def test_the_counts_of_a_voice_campaign_are_what_the_database_recorded(
    app, company, tmp_path
):
    await prepare(app, company, tmp_path)  # an opt-out by key, a lead never answering, a DNC
    async with observed_engine(app, Scenario.from_dict(SCENARIO), SimClock(START)) as (
        dispatcher,
        _,
        url,
    ):
        await dispatcher.run_until_done(company, "spring")
        samples = await scrape(url)

    spring = {"company": "acme", "campaign": "spring"}
    placed = await rows(app, select(func.count()).where(attempts.c.placed_at.is_not(None)))
    assert (
        value(samples, "dialer_attempts_placed_total", **spring, channel="voice") == (placed[0][0])
    )
    ended = await rows(app, select(attempts.c.status, func.count()).group_by(attempts.c.status))
    assert dict(ended) == {"DNC_REQUESTED": 1, "NO_ANSWER": 3}
    assert {
        status: value(
            samples, "dialer_attempts_ended_total", **spring, channel="voice", status=status
        )
        for status, _ in ended
    } == dict(ended)
    skipped = await rows(app, select(skips.c.reason, func.count()).group_by(skips.c.reason))
    assert ("COMPANY_DNC", 1) in skipped
    assert {
        labels: count for labels, count in series(samples, "dialer_skips_total").items() if count
    } == {frozenset({**spring, "reason": reason}.items()): count for reason, count in skipped}
    by_rule = await rows(
        app,
        select(func.count()).where(
            dnc_events.c.source == "status_rule", dnc_events.c.list_name == "dnc"
        ),
    )
    assert by_rule[0][0] == 1
    assert (
        value(
            samples, "dialer_dnc_additions_total", company="acme", list="dnc", source="status_rule"
        )
        == 1
    )
    assert value(samples, "dialer_opt_outs_total", company="acme", channel="voice") == 1
    stored = await rows(app, select(func.count()).select_from(call_events))
    assert value(samples, "dialer_callbacks_stored_total") == stored[0][0]
    assert value(samples, "dialer_tick_duration_seconds_count", **spring) > 0
    assert value(samples, "dialer_screening_batch_duration_seconds_count", **spring) > 0
    # The campaign completed: no running campaign, no node registered.
    assert value(samples, "dialer_scrape_database_up") == 1
    assert value(samples, "dialer_nodes_alive") == 0
    assert series(samples, "dialer_attempts_in_flight") == {}
    labels = {v for _, pairs in samples for _, v in pairs}
    assert labels >= {"acme", "spring", "voice", "COMPANY_DNC", "status_rule"}


async def test_a_stop_text_counts_as_an_sms_opt_out_and_a_dnc_addition(app, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(SMS_LEADS)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await repository.create_campaign(
            conn, company, SMS_CAMPAIGN.format(name="texts", caller_id=OURS), NOW
        )
    scenario = Scenario(replies=[Reply("*42", "STOP", delay=0)])
    noon = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    async with observed_engine(app, scenario, SimClock(noon)) as (dispatcher, simulator, url):
        await dispatcher.run_until_done(company, "texts")
        await simulator.drain()  # the STOP reply is in
        samples = await scrape(url)

    added = await rows(
        app,
        select(dnc_events.c.list_name, func.count())
        .where(dnc_events.c.source == "sms_keyword")
        .group_by(dnc_events.c.list_name),
    )
    assert added == [("dnc", 1)]
    assert (
        value(
            samples, "dialer_dnc_additions_total", company="acme", list="dnc", source="sms_keyword"
        )
        == 1
    )
    assert value(samples, "dialer_opt_outs_total", company="acme", channel="sms") == 1
    texts = {"company": "acme", "campaign": "texts", "channel": "sms"}
    assert value(samples, "dialer_attempts_placed_total", **texts) == 2
    assert value(samples, "dialer_attempts_ended_total", **texts, status="DELIVERED") == 2


async def test_the_callback_lag_is_measured_from_the_timestamp_the_carrier_sends(app, company):
    numbers = numbers_in_calling_hours()
    async with app.transaction() as conn:
        await accounts.set_countries(conn, company, COUNTRIES)
    await add_leads(app, company, "spring", [(n, "") for n in numbers])
    await create(app, company, "\n".join(x for x in CAMPAIGN.splitlines() if "window" not in x))
    answered = Scenario.from_dict({"seed": 1, "default": {"answered": 1.0}})
    async with observed_engine(app, answered, WallClock()) as (dispatcher, _, url):
        await dispatcher.run_until_done(company, "spring")
        samples = await scrape(url)

    stored = [params for (params,) in await rows(app, select(call_events.c.params))]
    dated = [p for p in stored if '"Timestamp"' in p]
    assert len(dated) == len(numbers)  # one final callback a call, dated by the simulator
    assert value(samples, "dialer_callback_lag_seconds_count") == len(dated)
    assert value(samples, "dialer_callback_lag_seconds_sum") >= 0


async def test_a_carrier_opt_out_refusal_counts_as_a_carrier_error_and_a_dnt_addition(
    app, company, tmp_path
):
    path = tmp_path / "leads.csv"
    path.write_text(SMS_LEADS)
    async with app.transaction() as conn:
        await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), "spring", NOW
        )
        await repository.create_campaign(
            conn, company, SMS_CAMPAIGN.format(name="texts", caller_id=OURS), NOW
        )
    refusing = Scenario.from_dict(
        {"default": {"delivered": 1.0}, "outcome": [{"match": "*42", "result": "opted-out"}]}
    )
    noon = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    async with observed_engine(app, refusing, SimClock(noon)) as (dispatcher, _, url):
        await dispatcher.run_until_done(company, "texts")
        samples = await scrape(url)

    texts = {"company": "acme", "campaign": "texts"}
    assert value(samples, "dialer_carrier_errors_total", **texts, kind="opted-out") == 1
    assert value(samples, "dialer_attempts_placed_total", **texts, channel="sms") == 1
    ended = await rows(app, select(attempts.c.status, func.count()).group_by(attempts.c.status))
    assert sum(count for _, count in ended) == 2
    assert {
        status: value(samples, "dialer_attempts_ended_total", **texts, channel="sms", status=status)
        for status, _ in ended
    } == dict(ended)
    added = await rows(
        app,
        select(func.count()).where(dnc_events.c.list_name == "dnt", dnc_events.c.action == "add"),
    )
    assert added[0][0] == 1
    assert (
        value(
            samples, "dialer_dnc_additions_total", company="acme", list="dnt", source="sms_keyword"
        )
        == 1
    )
    assert value(samples, "dialer_opt_outs_total", company="acme", channel="sms") == 1


async def test_numbers_added_through_the_api_count_as_api_additions(app, company):
    await add_staff(app, company)
    token = (await token_service.create(app, Caller(company.name), MANAGER)).text
    numbers = {"numbers": ["(305) 555-0134", "+1 212 555 0123"], "list": "dnt"}
    headers = {"Authorization": f"Bearer {token}"}
    async with observed_engine(app, Scenario(), SimClock(START)) as (_, _, url):
        async with aiohttp.ClientSession(headers=headers) as session:
            for expected in (201, 200):  # the second time, both are listed already
                async with session.post(f"{url}/api/v1/dnc", json=numbers) as response:
                    assert response.status == expected
        samples = await scrape(url)

    added = await rows(app, select(func.count()).where(dnc_events.c.source == "api"))
    assert added[0][0] == 2
    assert (
        value(samples, "dialer_dnc_additions_total", company="acme", list="dnt", source="api") == 2
    )
