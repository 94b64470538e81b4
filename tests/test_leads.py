"""Leads and their own channel DNC records, on both backends."""

from __future__ import annotations

from datetime import timedelta

from compliance import LeadChannel, accounts, leads, registry, sheets
from tests.support import NOW

LEADS_CSV = """External ID,Phone,First Name,Last Name,Email,State,Postal Code,Timezone
L1,(305) 555-0134,Ann,Lee,ann@example.com,fl,33101,America/New_York
L2,212-555-0100,Bob,Ray,,NY,10001,
L3,555-0100,Cy,Short,,,,
L4,305-555-0140,Di,Zed,,ZZ,,
L5,305-555-0141,Ed,Tz,,,,Mars/Olympus
L6,305-555-0142,Fi,Mail,not-an-email,,,
"""


async def import_file(engine, company, path, lead_list="spring"):
    async with engine.begin() as conn:
        return await leads.import_leads(
            conn, company, sheets.iter_records(path, leads.LEAD_COLUMNS), lead_list, NOW
        )


async def find(engine, company, ref):
    async with engine.begin() as conn:
        return await leads.find_lead(conn, company, ref)


async def test_import_keeps_valid_leads_and_reports_each_bad_field(engine, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")

    summary = await import_file(engine, company, path)

    assert (summary.read, summary.added, summary.invalid_count) == (6, 2, 4)
    errors = {r.row: r.error for r in summary.invalid}
    assert errors[4].startswith("phone:")
    assert errors[5].startswith("state:")
    assert errors[6].startswith("timezone:")
    assert errors[7].startswith("email:")
    ann = await find(engine, company, "L1")
    assert (ann.phone, ann.phone_raw, ann.state, ann.lead_list) == (
        "+13055550134",
        "(305) 555-0134",
        "FL",
        "spring",
    )
    assert (ann.status, ann.is_dnc, ann.dnc) == ("new", False, None)


async def test_reimport_of_the_same_file_changes_nothing(engine, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")
    await import_file(engine, company, path)

    again = await import_file(engine, company, path)

    assert (again.added, again.updated, again.unchanged, again.duplicate_count) == (0, 0, 2, 0)


async def set_channels(engine, company, lead, channels, now=NOW):
    async with engine.begin() as conn:
        await leads.set_lead_channels(
            conn, company, lead, channels, reason="asked by email", by="ana", now=now
        )


async def test_lead_channel_dnc_drives_is_dnc_and_never_the_status(engine, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")
    await import_file(engine, company, path)
    ann = await find(engine, company, "L1")

    await set_channels(engine, company, ann, frozenset({LeadChannel.PHONE, LeadChannel.SMS}))
    blocked = await find(engine, company, str(ann.id))
    assert blocked.is_dnc
    assert blocked.dnc.channels == {LeadChannel.PHONE, LeadChannel.SMS}
    assert (blocked.dnc.reason, blocked.dnc.updated_by, blocked.status) == (
        "asked by email",
        "ana",
        "new",
    )

    later = NOW + timedelta(hours=1)
    await set_channels(engine, company, ann, frozenset(), now=later)
    cleared = await find(engine, company, "L1")
    assert not cleared.is_dnc
    assert (cleared.dnc.created_at, cleared.dnc.updated_at) == (NOW, later)

    async with engine.begin() as conn:
        trail = [
            e
            async for e in (await registry.audit_events(conn, company, number="+13055550134")).rows
        ]
    assert [(e.action, e.lead_id, e.channels, e.actor) for e in trail] == [
        ("lead_channels", ann.id, "phone,sms", "ana"),
        ("lead_channels", ann.id, "", "ana"),
    ]


async def test_leads_of_another_company_are_invisible(engine, company, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")
    await import_file(engine, company, path)
    async with engine.begin() as conn:
        other, _ = await accounts.ensure_company(conn, "globex", NOW)

    assert await find(engine, other, "L1") is None
    assert await find(engine, other, "1") is None
