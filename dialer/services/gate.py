"""A dry run of the compliance gate: may a number be called or texted at an instant, and if
not, why; whoever asks (CLI, API, pages). It changes nothing."""

from __future__ import annotations

from datetime import datetime

from campaigns import repository
from compliance import Attempt, Channel, Decision, load_rules, screen
from dialer.app import App
from dialer.services import Caller, acting
from dialer.services.leads import find_lead

__all__ = ["check_attempt"]


async def check_attempt(
    app: App,
    caller: Caller,
    number: str,
    *,
    channel: Channel = Channel.VOICE,
    at: datetime,
    state: str | None = None,
    timezone: str | None = None,
    lead: str | None = None,
    campaign: str | None = None,
) -> Decision:
    """The gate's decision on one attempt to `number` (any format) at `at`, screened as the
    engine screens it. `lead` (id or external id) brings its state, zone, own DNC and
    history, which `state` and `timezone` override; `campaign` its window, attempt limit
    and channel, which replaces `channel`. UnknownLead or UnknownCampaign if not found."""
    # A transaction, not a snapshot: the gate reads the company's countries under a share
    # lock, as the engine's screening does.
    async with app.transaction() as conn:
        who = await acting(app, conn, caller)
        found = await find_lead(conn, who.company, lead) if lead else None
        chosen = await repository.find_campaign(conn, who.company, campaign) if campaign else None
        attempt = Attempt(
            address=number,
            channel=chosen.spec.channel if chosen else channel,
            lead_id=found.id if found else None,
            lead_timezone=timezone or (found.timezone if found else None),
            lead_state=state or (found.state if found else None),
            campaign=chosen.limits if chosen else None,
        )
        return (await screen(conn, who.company, [attempt], at, load_rules()))[0]
