"""The company DNC registry on both backends: lists, channels, removal policy, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from compliance import (
    Channel,
    Company,
    DncList,
    NotPermitted,
    RemovalRefused,
    Role,
    Source,
    accounts,
    registry,
)
from compliance.tables import dnc_entries, dnc_events
from tests.support import NOW

A = "+13055550134"
B = "+12125550100"


async def add(engine: AsyncEngine, company: Company, numbers, list_name=DncList.DNC, **kw):
    async with engine.begin() as conn:
        return await registry.add_numbers(
            conn,
            company,
            numbers,
            list_name,
            source=kw.pop("source", Source.MANUAL),
            reason=kw.pop("reason", "asked"),
            actor=kw.pop("actor", "ana"),
            now=kw.pop("now", NOW),
            **kw,
        )


async def blocked(engine: AsyncEngine, company: Company, numbers, channel, now=NOW):
    async with engine.begin() as conn:
        return await registry.blocked(conn, company, numbers, channel, now)


async def count(engine: AsyncEngine, table) -> int:
    async with engine.begin() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_dnc_blocks_calls_and_texts_dnt_only_texts(engine, company):
    await add(engine, company, [A])
    await add(engine, company, [B], DncList.DNT)

    assert await blocked(engine, company, [A, B], Channel.VOICE) == {A: [DncList.DNC]}
    assert await blocked(engine, company, [A, B], Channel.SMS) == {
        A: [DncList.DNC],
        B: [DncList.DNT],
    }


async def test_a_number_on_both_lists_reports_both(engine, company):
    await add(engine, company, [A])
    await add(engine, company, [A], DncList.DNT)

    assert await blocked(engine, company, [A], Channel.SMS) == {A: [DncList.DNC, DncList.DNT]}


async def test_adding_twice_adds_and_audits_once(engine, company):
    assert await add(engine, company, [A, B]) == [B, A]
    assert await add(engine, company, [A]) == []

    assert await count(engine, dnc_entries) == 2
    assert await count(engine, dnc_events) == 2


async def test_an_expired_entry_no_longer_blocks_and_can_be_added_again(engine, company):
    await add(engine, company, [A], expires_at=NOW + timedelta(days=1))

    assert A in await blocked(engine, company, [A], Channel.VOICE)
    later = NOW + timedelta(days=2)
    assert await blocked(engine, company, [A], Channel.VOICE, now=later) == {}
    assert await add(engine, company, [A], now=later) == [A]
    assert A in await blocked(engine, company, [A], Channel.VOICE, now=later + timedelta(days=9))


async def test_lookup_is_one_query_per_batch(engine, company):
    numbers = [f"+1305555{n:04d}" for n in range(1000)]
    await add(engine, company, numbers[::7])
    statements = []

    def record(*args):
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        found = await blocked(engine, company, numbers, Channel.SMS)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert len(found) == len(numbers[::7])
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1


async def remove(engine, company, numbers, *, by, reason="confirmed consent"):
    async with engine.begin() as conn:
        user = await accounts.find_user(conn, company, by)
        return await registry.remove_numbers(
            conn, company, numbers, DncList.DNC, reason=reason, user=user, by=by, now=NOW
        )


@pytest.fixture
async def staff(engine, company):
    async with engine.begin() as conn:
        await accounts.add_user(conn, company, "root", Role.ADMIN, False, NOW)
        await accounts.add_user(conn, company, "mia", Role.MANAGER, True, NOW)
        await accounts.add_user(conn, company, "max", Role.MANAGER, False, NOW)
        await accounts.add_user(conn, company, "vic", Role.VIEWER, False, NOW)


@pytest.mark.parametrize(
    ("by", "reason", "refusal", "message"),
    [
        ("max", "consent", NotPermitted, "lacks the can_remove_dnc permission"),
        ("vic", "consent", NotPermitted, "vic \\(viewer\\) may not take numbers off lists"),
        ("mia", "   ", RemovalRefused, "a reason is required"),
        ("ghost", "consent", NotPermitted, "no user named 'ghost'"),
    ],
)
async def test_removal_is_refused_and_changes_nothing(
    engine, company, staff, by, reason, refusal, message
):
    await add(engine, company, [A])

    with pytest.raises(refusal, match=message):
        await remove(engine, company, [A], by=by, reason=reason)

    assert A in await blocked(engine, company, [A], Channel.VOICE)
    assert await count(engine, dnc_events) == 1


@pytest.mark.parametrize("by", ["root", "mia"])
async def test_admin_or_permitted_user_removes_with_reason(engine, company, staff, by):
    await add(engine, company, [A, B])

    assert await remove(engine, company, [A], by=by) == [A]

    assert await blocked(engine, company, [A, B], Channel.VOICE) == {B: [DncList.DNC]}
    async with engine.begin() as conn:
        trail = [e async for e in (await registry.audit_events(conn, company, number=A)).rows]
    assert [(e.action, e.actor, e.reason) for e in trail] == [
        ("add", "ana", "asked"),
        ("remove", by, "confirmed consent"),
    ]


async def test_every_change_is_audited_with_who_why_source_and_when(engine, company, staff):
    await add(engine, company, [A], source=Source.IVR, reason="pressed 9", actor="ivr")
    await add(engine, company, [B], DncList.DNT, source=Source.SMS_KEYWORD, reason="STOP")
    await remove(engine, company, [A], by="root", reason="wrong entry")

    async with engine.begin() as conn:
        trail = [e async for e in (await registry.audit_events(conn, company)).rows]
    assert [(e.action, e.list_name, e.number, e.source, e.reason, e.actor) for e in trail] == [
        ("add", "dnc", A, "ivr", "pressed 9", "ivr"),
        ("add", "dnt", B, "sms_keyword", "STOP", "ana"),
        ("remove", "dnc", A, "manual", "wrong entry", "root"),
    ]
    assert all(e.at == NOW for e in trail)


@pytest.mark.parametrize(
    "statement", ["UPDATE dnc_events SET reason = 'x'", "DELETE FROM dnc_events"]
)
async def test_the_audit_trail_is_append_only(engine, company, statement):
    await add(engine, company, [A])

    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    assert await count(engine, dnc_events) == 1


async def test_companies_see_and_change_only_their_own_lists(engine, company):
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)
        await accounts.add_user(conn, other, "boss", Role.ADMIN, True, NOW)
    await add(engine, company, [A])

    assert await blocked(engine, other, [A], Channel.VOICE) == {}
    assert await remove(engine, other, [A], by="boss") == []
    assert A in await blocked(engine, company, [A], Channel.VOICE)
    async with engine.begin() as conn:
        assert [e async for e in (await registry.audit_events(conn, other)).rows] == []
        assert [e async for e in registry.entries(conn, other, None, NOW)] == []
        assert len([e async for e in registry.entries(conn, company, None, NOW)]) == 1
    # A user of one company cannot remove for another.
    with pytest.raises(NotPermitted, match="no user named 'boss'"):
        await remove(engine, company, [A], by="boss")


async def test_export_streams_live_entries_in_order(engine, company):
    await add(engine, company, [A, B])
    await add(engine, company, [A], DncList.DNT, expires_at=NOW - timedelta(seconds=1))

    async with engine.begin() as conn:
        exported = [
            (e.list_name, e.number) async for e in registry.entries(conn, company, None, NOW)
        ]
    assert exported == [(DncList.DNC, B), (DncList.DNC, A)]
