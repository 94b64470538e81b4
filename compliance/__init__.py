"""Who may be contacted, where and when: phone numbers, DNC lists, lead channel DNC.

Public names live here; `registry`, `leads`, `accounts` and `sheets` are the storage and
file-reading modules, used as namespaces (`registry.blocked(...)`).
"""

from compliance import accounts, leads, registry, sheets
from compliance.accounts import Company, UnknownCompany
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
    Role,
    Source,
    User,
    check_removal,
    format_lead_channels,
    parse_lead_channels,
)
from compliance.leads import InvalidLead, Lead, LeadDnc, LeadImportSummary
from compliance.phone import InvalidNumber, PhoneNumber, from_key, normalize, to_key
from compliance.sheets import UnreadableFile
from compliance.tables import metadata

__all__ = [
    "LISTS_BLOCKING",
    "AuditEvent",
    "Channel",
    "Company",
    "DncEntry",
    "DncList",
    "ImportSummary",
    "InvalidLead",
    "InvalidNumber",
    "InvalidRow",
    "Lead",
    "LeadChannel",
    "LeadDnc",
    "LeadImportSummary",
    "PhoneNumber",
    "RemovalRefused",
    "Role",
    "Source",
    "UnknownCompany",
    "UnreadableFile",
    "User",
    "accounts",
    "check_removal",
    "format_lead_channels",
    "from_key",
    "leads",
    "metadata",
    "normalize",
    "parse_lead_channels",
    "registry",
    "sheets",
    "to_key",
]
