"""The gate: one decision per attempt, with every failing rule, on plain data and storage."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import event

from campaigns import attempts
from compliance import (
    Attempt,
    CampaignLimits,
    CampaignWindow,
    Channel,
    Code,
    DncEntry,
    DncList,
    Facts,
    LeadChannel,
    Source,
    decide,
    decide_batch,
    explain,
    leads,
    load_rules,
    registry,
    screen,
    sheets,
)
from compliance.blackouts import Blackout, InvalidBlackout, add_blackout, check_blackout
from tests.support import NOW

RULES = load_rules()
NEW_YORK_NOON = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # Tue 12:00 EDT
FL = "+13055550100"
MD = "+14105550100"


def entry(list_name: DncList) -> DncEntry:
    return DncEntry(FL, list_name, Source.MANUAL, "asked", "ana", NOW, None)


def codes(decision) -> list[Code]:
    return [reason.code for reason in decision.reasons]


def test_a_valid_number_in_hours_with_no_listing_is_allowed():
    decision = decide(Attempt(FL, Channel.VOICE), Facts(), NEW_YORK_NOON, RULES)

    assert decision.allowed
    assert (decision.number, decision.zones, decision.reasons) == (FL, ("America/New_York",), ())
    assert decision.local_times == {"America/New_York": "2026-03-10T12:00:00-04:00"}
    assert explain(decision).startswith("Allowed:")


def test_an_invalid_number_is_a_permanent_skip():
    decision = decide(Attempt("555-0100", Channel.VOICE), Facts(), NEW_YORK_NOON, RULES)

    assert codes(decision) == [Code.INVALID_NUMBER]
    assert decision.permanent
    assert decision.next_eligible_at is None
    assert "too short" in decision.reasons[0].detail["error"]


@pytest.mark.parametrize(
    ("listed", "channel", "expected"),
    [
        (DncList.DNC, Channel.VOICE, [Code.COMPANY_DNC]),
        (DncList.DNC, Channel.SMS, [Code.COMPANY_DNC]),
        (DncList.DNT, Channel.VOICE, []),
        (DncList.DNT, Channel.SMS, [Code.COMPANY_DNT]),
    ],
)
def test_company_lists_block_by_channel(listed, channel, expected):
    facts = Facts(listings=(entry(listed),))

    decision = decide(Attempt(FL, channel), facts, NEW_YORK_NOON, RULES)

    assert codes(decision) == expected
    if expected:
        assert decision.reasons[0].rule == f"list:{listed.value}"
        assert decision.reasons[0].detail["added_by"] == "ana"
        assert decision.permanent


@pytest.mark.parametrize(
    ("blocked", "channel", "expected"),
    [
        ({LeadChannel.PHONE}, Channel.VOICE, [Code.LEAD_DNC_PHONE]),
        ({LeadChannel.PHONE}, Channel.SMS, []),
        ({LeadChannel.SMS}, Channel.SMS, [Code.LEAD_DNC_SMS]),
        ({LeadChannel.EMAIL}, Channel.VOICE, []),
    ],
)
def test_the_leads_own_channels_block_only_their_channel(blocked, channel, expected):
    facts = Facts(lead_channels=frozenset(blocked))

    decision = decide(Attempt(FL, channel, lead_id=7), facts, NEW_YORK_NOON, RULES)

    assert codes(decision) == expected


def test_email_is_blocked_by_the_leads_email_dnc_only():
    attempt = Attempt("ann@example.com", Channel.EMAIL, lead_id=7)

    assert decide(attempt, Facts(), NEW_YORK_NOON, RULES).allowed
    blocked = decide(
        attempt, Facts(lead_channels=frozenset({LeadChannel.EMAIL})), NEW_YORK_NOON, RULES
    )
    assert codes(blocked) == [Code.LEAD_DNC_EMAIL]


def test_florida_evening_is_a_temporary_skip_until_morning():
    at = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)  # Tue 20:30 EDT

    decision = decide(Attempt(FL, Channel.VOICE), Facts(), at, RULES)

    assert codes(decision) == [Code.OUTSIDE_CALLING_HOURS]
    assert decision.reasons[0].rule == "state:FL"
    assert not decision.permanent
    assert decision.next_eligible_at == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert "20:30 in America/New_York" in explain(decision)


def test_unalaska_is_judged_on_alaska_time_as_well():
    # 20:30 in Honolulu, where phonenumbers places +1 907 581, is 22:30 in Unalaska.
    at = datetime(2026, 7, 15, 6, 30, tzinfo=UTC)
    decision = decide(Attempt("+19075810100", Channel.VOICE), Facts(), at, RULES)
    assert codes(decision) == [Code.OUTSIDE_CALLING_HOURS]
    assert "America/Anchorage" in decision.reasons[0].detail["zone"]


LOUISIANA_EMERGENCY = Blackout(
    "LA",
    datetime(2026, 8, 25, tzinfo=UTC),
    datetime(2026, 9, 20, tzinfo=UTC),
    "Hurricane",
    "https://gov.louisiana.gov/proclamation-2026-90",
)


@pytest.mark.parametrize("channel", [Channel.VOICE, Channel.SMS])
def test_a_louisiana_emergency_blocks_calls_and_texts_until_it_ends(channel):
    # Reference S-EMERG: emergency 2026-08-25 to 2026-09-20, a call to +1 504 on 2026-09-01.
    at = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 11:00 in New Orleans
    facts = Facts(blackouts=(LOUISIANA_EMERGENCY,))

    decision = decide(Attempt("+15045550100", channel), facts, at, RULES)

    assert codes(decision) == [Code.STATE_EMERGENCY_BLACKOUT]
    assert decision.reasons[0].rule == "emergency:LA"
    assert not decision.permanent
    # The ban ends at 2026-09-20T00:00Z, Saturday 19:00 in New Orleans: still in hours.
    assert decision.next_eligible_at == datetime(2026, 9, 20, tzinfo=UTC)
    assert "state LA is under an emergency blackout" in explain(decision)


def test_an_emergency_binds_a_lead_living_in_the_state_whatever_the_number():
    at = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)
    facts = Facts(blackouts=(LOUISIANA_EMERGENCY,))
    elsewhere = decide(Attempt(FL, Channel.VOICE), facts, at, RULES)
    moved = decide(Attempt(FL, Channel.VOICE, lead_state="LA"), facts, at, RULES)
    before = decide(Attempt("+15045550100", Channel.VOICE), facts, at.replace(month=8), RULES)

    assert elsewhere.allowed
    assert before.allowed
    assert codes(moved) == [Code.STATE_EMERGENCY_BLACKOUT]


def test_every_failing_rule_is_reported_and_dnc_makes_it_permanent():
    at = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)

    decision = decide(Attempt(FL, Channel.VOICE), Facts(listings=(entry(DncList.DNC),)), at, RULES)

    assert codes(decision) == [Code.COMPANY_DNC, Code.OUTSIDE_CALLING_HOURS]
    assert (decision.permanent, decision.next_eligible_at) == (True, None)


def florida_calls(*hours_utc: int) -> tuple[tuple[datetime, Channel], ...]:
    return tuple((datetime(2026, 3, 10, h, 0, tzinfo=UTC), Channel.VOICE) for h in hours_utc)


def test_the_florida_rolling_cap_counts_three_attempts_in_24_hours():
    facts = Facts(recent=florida_calls(13, 16, 19))  # 09:00, 12:00, 15:00 EDT
    before = datetime(2026, 3, 11, 12, 59, tzinfo=UTC)  # 08:59 EDT next day
    after = datetime(2026, 3, 11, 13, 0, 1, tzinfo=UTC)

    blocked = decide(Attempt(FL, Channel.VOICE), facts, before, RULES)
    allowed = decide(Attempt(FL, Channel.VOICE), facts, after, RULES)

    assert codes(blocked) == [Code.ATTEMPT_CAP]
    assert blocked.reasons[0].rule == "state:FL"
    assert blocked.reasons[0].detail["count"] == 3
    assert blocked.next_eligible_at == datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
    assert allowed.allowed


def test_maryland_counts_texts_and_calls_together():
    day = datetime(2026, 3, 10, tzinfo=UTC)
    facts = Facts(
        recent=(
            (day + timedelta(hours=13), Channel.VOICE),
            (day + timedelta(hours=14), Channel.VOICE),
            (day + timedelta(hours=15), Channel.SMS),
        )
    )

    decision = decide(Attempt(MD, Channel.SMS), facts, day + timedelta(hours=18), RULES)

    assert codes(decision) == [Code.ATTEMPT_CAP]
    assert decision.reasons[0].rule == "state:MD"


def test_the_campaign_limit_is_permanent():
    campaign = CampaignLimits(id=1, name="spring", max_attempts=3)
    attempt = Attempt(FL, Channel.VOICE, lead_id=7, campaign=campaign)

    assert decide(attempt, Facts(campaign_attempts=2), NEW_YORK_NOON, RULES).allowed
    decision = decide(attempt, Facts(campaign_attempts=3), NEW_YORK_NOON, RULES)
    assert codes(decision) == [Code.MAX_ATTEMPTS]
    assert decision.permanent


ALLOWED: list[Code] = []
CAPPED = [Code.ATTEMPT_CAP]
SPRING = CampaignLimits(id=1, name="spring", max_attempts=1)


@pytest.mark.parametrize(
    ("batch", "facts", "expected"),
    [
        pytest.param(
            [Attempt(FL, Channel.VOICE, lead_id=n) for n in range(5)],
            Facts(),
            [ALLOWED] * 3 + [CAPPED] * 2,
            id="five leads sharing a Florida number",
        ),
        pytest.param(
            [Attempt(FL, Channel.VOICE, lead_id=n) for n in range(3)],
            Facts(recent=florida_calls(13, 14)),
            [ALLOWED, CAPPED, CAPPED],
            id="two calls already today",
        ),
        pytest.param(
            [Attempt(MD, channel) for channel in (Channel.VOICE, Channel.SMS) * 2],
            Facts(),
            [ALLOWED] * 3 + [CAPPED],
            id="Maryland calls and texts together",
        ),
        pytest.param(
            [Attempt(f"+1305555010{n}", Channel.VOICE) for n in range(5)],
            Facts(),
            [ALLOWED] * 5,
            id="five Florida numbers",
        ),
        pytest.param(
            [Attempt(FL, Channel.VOICE, lead_id=7, campaign=SPRING)] * 2,
            Facts(),
            [ALLOWED, [Code.MAX_ATTEMPTS]],
            id="one lead twice in a one-attempt campaign",
        ),
    ],
)
def test_a_batchs_own_allowed_attempts_count_for_the_attempts_after_them(batch, facts, expected):
    decisions = decide_batch(batch, [facts] * len(batch), NEW_YORK_NOON, RULES)

    assert [codes(decision) for decision in decisions] == expected


def test_attempts_refused_in_a_batch_do_not_count_and_wait_a_day():
    batch = [Attempt(FL, Channel.VOICE, lead_id=n) for n in range(5)]

    refused = decide_batch(batch, [Facts()] * 5, NEW_YORK_NOON, RULES)[3:]

    assert [decision.reasons[0].rule for decision in refused] == ["state:FL"] * 2
    assert [decision.reasons[0].detail["count"] for decision in refused] == [3, 3]
    assert {decision.next_eligible_at for decision in refused} == {
        NEW_YORK_NOON + timedelta(hours=24)
    }


def test_a_campaign_window_narrows_the_hours():
    window = CampaignWindow(start=time(13, 0), end=time(17, 0), days=frozenset(range(5)))
    campaign = CampaignLimits(id=1, name="afternoons", window=window)

    decision = decide(Attempt(FL, Channel.VOICE, campaign=campaign), Facts(), NEW_YORK_NOON, RULES)

    assert [(r.code, r.rule) for r in decision.reasons] == [
        (Code.OUTSIDE_CALLING_HOURS, "campaign")
    ]
    assert decision.next_eligible_at == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def test_no_known_zone_fails_closed():
    toll_free = Attempt("+18005550100", Channel.VOICE)

    decision = decide(toll_free, Facts(), NEW_YORK_NOON, RULES)

    assert codes(decision) == [Code.TZ_UNKNOWN]
    assert decision.permanent
    known = decide(
        Attempt("+18005550100", Channel.VOICE, lead_timezone="America/Chicago"),
        Facts(),
        NEW_YORK_NOON,
        RULES,
    )
    assert known.allowed
    assert known.zones == ("America/Chicago",)


def test_the_address_state_applies_as_well_as_the_area_code_state():
    sunday_evening = datetime(2026, 3, 9, 0, 15, tzinfo=UTC)  # Sun 20:15 EDT, 18:15 MDT

    decision = decide(
        Attempt(FL, Channel.VOICE, lead_state="CO", lead_timezone="America/Denver"),
        Facts(),
        sunday_evening,
        RULES,
    )

    assert [r.rule for r in decision.reasons] == ["state:FL"]
    assert set(decision.zones) == {"America/Denver", "America/New_York"}


# --- storage: the batch data path, on both backends --------------------------------------


async def test_screen_reads_what_storage_knows_now(engine, company):
    async with engine.begin() as conn:
        blocked = await screen(conn, company, [Attempt(FL, Channel.VOICE)], NEW_YORK_NOON, RULES)
    assert blocked[0].allowed

    async with engine.begin() as conn:
        await registry.add_numbers(
            conn,
            company,
            [FL],
            DncList.DNC,
            source=Source.STATUS_RULE,
            reason="asked",
            actor="engine",
            now=NEW_YORK_NOON,
        )
        after = await screen(
            conn, company, [Attempt("(305) 555-0100", Channel.VOICE)], NEW_YORK_NOON, RULES
        )
    assert codes(after[0]) == [Code.COMPANY_DNC]


async def test_a_blackout_entered_now_applies_to_the_next_batch(engine, company):
    at = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)
    new_orleans = [Attempt("+15045550100", Channel.SMS)]
    async with engine.begin() as conn:
        before = await screen(conn, company, new_orleans, at, RULES)
        await add_blackout(
            conn,
            company,
            "la",
            LOUISIANA_EMERGENCY.starts_at,
            LOUISIANA_EMERGENCY.ends_at,
            reason="Hurricane",
            source=LOUISIANA_EMERGENCY.source,
            by="ana",
            now=at,
        )
        after = await screen(conn, company, new_orleans, at, RULES)
        over = await screen(conn, company, new_orleans, LOUISIANA_EMERGENCY.ends_at, RULES)

    assert before[0].allowed
    assert codes(after[0]) == [Code.STATE_EMERGENCY_BLACKOUT]
    assert after[0].reasons[0].detail["source"] == LOUISIANA_EMERGENCY.source
    assert over[0].allowed


@pytest.mark.parametrize(
    ("state", "ends", "source", "message"),
    [
        ("XX", 20, "order 1", "not a US state"),
        ("LA", 1, "order 1", "must end after it starts"),
        ("LA", 20, " ", "source"),
    ],
)
def test_a_blackout_needs_a_state_a_period_and_a_source(state, ends, source, message):
    starts = datetime(2026, 9, 1, tzinfo=UTC)
    with pytest.raises(InvalidBlackout, match=message):
        check_blackout(state, starts, starts.replace(day=ends), source)


async def test_caps_count_every_campaign_and_limits_count_one(engine, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("phone,external_id\n305-555-0100,L1\n")
    async with engine.begin() as conn:
        await leads.import_leads(conn, company, _records(path), "spring", NOW)
        lead = await leads.find_lead(conn, company, "L1")
        for campaign_id, hour in ((1, 13), (2, 14), (2, 15)):
            await attempts.record_intents(
                conn,
                company,
                [(lead.id, FL)],
                Channel.VOICE,
                NEW_YORK_NOON.replace(hour=hour),
                campaign_id=campaign_id,
            )
        spring = CampaignLimits(id=1, name="spring", max_attempts=1)
        decisions = await screen(
            conn,
            company,
            [Attempt(FL, Channel.VOICE, lead_id=lead.id, campaign=spring)],
            NEW_YORK_NOON.replace(hour=18),
            RULES,
        )
    assert codes(decisions[0]) == [Code.ATTEMPT_CAP, Code.MAX_ATTEMPTS]


async def test_a_batch_of_leads_sharing_a_florida_number_passes_the_cap_only_three_times(
    engine, company, tmp_path
):
    path = tmp_path / "leads.csv"
    async with engine.begin() as conn:
        for n in range(5):  # a list each: a list holds one lead per number
            path.write_text(f"phone,external_id\n305-555-0100,L{n}\n")
            await leads.import_leads(conn, company, _records(path), f"list-{n}", NOW)
        family = [(await leads.find_lead(conn, company, f"L{n}")).id for n in range(5)]
        await attempts.record_intents(
            conn, company, [(family[0], FL)], Channel.VOICE, NEW_YORK_NOON.replace(hour=13)
        )
        batch = [Attempt(FL, Channel.VOICE, lead_id=lead_id) for lead_id in family]
        decisions = await screen(conn, company, batch, NEW_YORK_NOON, RULES)

    assert [codes(decision) for decision in decisions] == [ALLOWED] * 2 + [CAPPED] * 3


def _records(path):
    return sheets.iter_records(path, leads.LEAD_COLUMNS)


async def test_a_batch_costs_one_query_per_kind_of_fact(engine, company):
    campaign = CampaignLimits(id=1, name="spring", max_attempts=3)
    batch = [
        Attempt(f"+1305555{n:04d}", Channel.SMS, lead_id=n + 1, campaign=campaign)
        for n in range(1000)
    ]
    statements = []

    def record(*args):
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.connect() as conn:
            decisions = await screen(conn, company, batch, NEW_YORK_NOON, RULES)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert all(decision.allowed for decision in decisions)
    # Company lists, attempt history, lead channels, campaign counts, blackouts, countries.
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 6
