"""Texts whose create request ended unknown (the carrier may have acted): recovery finds them
in the carrier's message list, or sends them again once the list shows they were never
sent. A simulated carrier behind the fault proxy, on both backends."""

from __future__ import annotations

from collections import Counter

import pytest

from campaigns import CampaignState, repository
from compliance import leads
from tests.faultproxy import Mode, Route
from tests.support import NOW
from tests.test_dispatch_faults import attempt_rows, lead_rows, number_of, rigged, run

CAMPAIGN = """
name = "spring"
channel = "sms"
leads = "spring"
caller_id = "+13055550000"
max_attempts = 3
max_concurrent = 20
attempts_per_second = 10
window = { start = "09:00", end = "20:00", days = ["mon", "tue", "wed", "thu", "fri", "sat"] }
sms_body = "Hi {first_name}, our spring offer ends Friday. Reply STOP to opt out."
"""
# Texts to numbers ending in 3 are not delivered; the others are.
UNDELIVERED = [f"+130555520{n}3" for n in range(4)]
DELIVERED = [f"+130555520{n}0" for n in range(4)]
NUMBERS = UNDELIVERED + DELIVERED
SCENARIO = {
    "seed": 5,
    "default": {"delivered": 1.0},
    "outcome": [{"match": "*3", "result": "undelivered"}],
}
EXPECTED = {"delivered": "DELIVERED", "undelivered": "UNDELIVERED"}


async def prepare(app, company) -> None:
    records = (
        (row, {**dict.fromkeys(leads.LEAD_COLUMNS, ""), "phone": number, "state": "FL"})
        for row, number in enumerate(NUMBERS, start=2)
    )
    async with app.transaction() as conn:
        await leads.import_leads(conn, company, records, "spring", NOW)
        await repository.create_campaign(conn, company, CAMPAIGN, NOW)


def expected_result(number: str) -> str:
    return "undelivered" if number in UNDELIVERED else "delivered"


@pytest.mark.parametrize("dropped", [3, len(NUMBERS)], ids=["first-texts", "every-text"])
async def test_texts_whose_answer_was_lost_end_with_their_real_outcome_sent_once(
    app, company, dropped
):
    await prepare(app, company)

    async with rigged(app, SCENARIO) as rig:
        # Every status callback is lost too: a callback alone would bind the attempt, so
        # only the carrier's list can tell what became of a text whose answer was lost.
        rig.sim.callback_retries = 0
        rig.dispatcher.callback_base = "http://127.0.0.1:9"
        rig.proxy.fail_next(dropped, Mode.FORWARD_THEN_DROP, route=Route.MESSAGES)
        finished = await run(rig, company, within=30)

    assert finished.state is CampaignState.COMPLETED
    creates = rig.proxy.seen_on(Route.MESSAGES)
    assert [s.mode for s in creates[:dropped]] == [Mode.FORWARD_THEN_DROP] * dropped
    assert all(s.forwarded and s.upstream_status == 201 for s in creates)
    assert Counter(message["to"] for message in rig.sim.messages) == Counter(NUMBERS)
    sid_of = {message["to"]: message["sid"] for message in rig.sim.messages}
    ended = await attempt_rows(app)
    assert len(ended) == len(NUMBERS)
    for row in ended:
        result = expected_result(number_of(row))
        assert (row.state, row.result, row.status) == ("ended", result, EXPECTED[result]), row
        assert row.carrier_sid == sid_of[number_of(row)]


async def test_texts_refused_before_forwarding_are_not_placed_and_sent_later_once(app, company):
    await prepare(app, company)
    refusals = 3

    async with rigged(app, SCENARIO) as rig:
        rig.proxy.fail_next(refusals, Mode.DROP, route=Route.MESSAGES)
        finished = await run(rig, company, within=30)

    assert finished.state is CampaignState.COMPLETED
    creates = rig.proxy.seen_on(Route.MESSAGES)
    assert [s.forwarded for s in creates] == [False] * refusals + [True] * len(NUMBERS)
    assert Counter(message["to"] for message in rig.sim.messages) == Counter(NUMBERS)
    every = await attempt_rows(app)
    refused = [r for r in every if r.carrier_sid is None]
    assert len(refused) == refusals
    assert {(r.state, r.result, r.status) for r in refused} == {("not_placed", "not_placed", None)}
    placed = [r for r in every if r.carrier_sid is not None]
    assert sorted(number_of(r) for r in placed) == sorted(NUMBERS)
    for row in placed:
        result = expected_result(number_of(row))
        assert (row.state, row.result, row.status) == ("ended", result, EXPECTED[result]), row
    lead_queue = await lead_rows(app)
    assert {(q.state, q.attempts) for q in lead_queue} == {("done", 1)}
