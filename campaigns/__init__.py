"""What a campaign is: its checked definition, its lifecycle, and the company's call statuses.

Plain data and plain functions; running campaigns is the dialer's job. Imports only `compliance`.
"""

from campaigns import attempts, callbacks, outcomes, queue, repository, skiplog
from campaigns.definitions import (
    LEAD_FIELDS,
    CampaignSpec,
    check_optout_digit,
    check_retry_statuses,
    load_campaign,
    parse_campaign,
    parse_duration,
    render_sms,
)
from campaigns.lifecycle import CampaignAction, CampaignState, InvalidTransition, transition
from campaigns.repository import Campaign, NoStatuses, UnknownCampaign
from campaigns.statuses import (
    DEFAULT_STATUSES_PATH,
    RESULTS_OF,
    Action,
    ActionKind,
    CallStatus,
    CarrierResult,
    InvalidDefinition,
    OutcomeRule,
    StatusBook,
    load_statuses,
    parse_statuses,
)
from campaigns.tables import metadata

__all__ = [
    "DEFAULT_STATUSES_PATH",
    "LEAD_FIELDS",
    "RESULTS_OF",
    "Action",
    "ActionKind",
    "CallStatus",
    "Campaign",
    "CampaignAction",
    "CampaignSpec",
    "CampaignState",
    "CarrierResult",
    "InvalidDefinition",
    "InvalidTransition",
    "NoStatuses",
    "OutcomeRule",
    "StatusBook",
    "UnknownCampaign",
    "attempts",
    "callbacks",
    "check_optout_digit",
    "check_retry_statuses",
    "load_campaign",
    "load_statuses",
    "metadata",
    "outcomes",
    "parse_campaign",
    "parse_duration",
    "parse_statuses",
    "queue",
    "render_sms",
    "repository",
    "skiplog",
    "transition",
]
