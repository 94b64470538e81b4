"""Who may be contacted, where and when: phone numbers, DNC lists, lead channel DNC, and
what an inbound text asks for (`classify`).

Public names live here; `registry`, `leads`, `accounts` and `sheets` are the storage and
file-reading modules, used as namespaces (`registry.blocked(...)`).
"""

from compliance import accounts, attempts, blackouts, leads, passwords, registry, sheets
from compliance.accounts import (
    LOCAL_OPERATOR,
    Company,
    InvalidUser,
    NotPermitted,
    Permission,
    Role,
    UnknownCompany,
    UnknownUser,
    User,
)
from compliance.blackouts import Blackout, InvalidBlackout
from compliance.dnc import (
    LISTS_BLOCKING,
    AuditEvent,
    Channel,
    DncEntry,
    DncList,
    ImportSummary,
    InvalidRow,
    LeadChannel,
    RemovalRefused,
    Source,
    check_removal,
    format_lead_channels,
    parse_lead_channels,
)
from compliance.hours import CampaignWindow, RuleBook, load_rules
from compliance.keywords import (
    Classification,
    KeywordBook,
    MessageClass,
    classify,
    load_keywords,
)
from compliance.leads import InvalidLead, Lead, LeadDnc, LeadImportSummary
from compliance.passwords import InvalidPassword
from compliance.phone import InvalidNumber, PhoneNumber, from_key, normalize, to_key
from compliance.reasons import Code, Reason
from compliance.screening import (
    Attempt,
    CampaignLimits,
    Decision,
    Facts,
    decide,
    decide_batch,
    explain,
    gather_facts,
    screen,
)
from compliance.sheets import UnreadableFile
from compliance.tables import metadata

__all__ = [
    "LISTS_BLOCKING",
    "LOCAL_OPERATOR",
    "Attempt",
    "AuditEvent",
    "Blackout",
    "CampaignLimits",
    "CampaignWindow",
    "Channel",
    "Classification",
    "Code",
    "Company",
    "Decision",
    "DncEntry",
    "DncList",
    "Facts",
    "ImportSummary",
    "InvalidBlackout",
    "InvalidLead",
    "InvalidNumber",
    "InvalidPassword",
    "InvalidRow",
    "InvalidUser",
    "KeywordBook",
    "Lead",
    "LeadChannel",
    "LeadDnc",
    "LeadImportSummary",
    "MessageClass",
    "NotPermitted",
    "Permission",
    "PhoneNumber",
    "Reason",
    "RemovalRefused",
    "Role",
    "RuleBook",
    "Source",
    "UnknownCompany",
    "UnknownUser",
    "UnreadableFile",
    "User",
    "accounts",
    "attempts",
    "blackouts",
    "check_removal",
    "classify",
    "decide",
    "decide_batch",
    "explain",
    "format_lead_channels",
    "from_key",
    "gather_facts",
    "leads",
    "load_keywords",
    "load_rules",
    "metadata",
    "normalize",
    "parse_lead_channels",
    "passwords",
    "registry",
    "screen",
    "sheets",
    "to_key",
]
