"""Why an attempt is skipped: stable, machine-readable reason codes with the matching rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Stable reason codes: skip logs, reports and API clients rely on these names."""

    INVALID_NUMBER = "INVALID_NUMBER"
    COUNTRY_NOT_ALLOWED = "COUNTRY_NOT_ALLOWED"
    LEAD_DNC_PHONE = "LEAD_DNC_PHONE"
    LEAD_DNC_SMS = "LEAD_DNC_SMS"
    LEAD_DNC_EMAIL = "LEAD_DNC_EMAIL"
    COMPANY_DNC = "COMPANY_DNC"
    COMPANY_DNT = "COMPANY_DNT"
    OUTSIDE_CALLING_HOURS = "OUTSIDE_CALLING_HOURS"
    RESTRICTED_DAY = "RESTRICTED_DAY"
    ATTEMPT_CAP = "ATTEMPT_CAP"
    MAX_ATTEMPTS = "MAX_ATTEMPTS"
    TZ_UNKNOWN = "TZ_UNKNOWN"
    STATE_EMERGENCY_BLACKOUT = "STATE_EMERGENCY_BLACKOUT"


# Waiting never lifts these: the attempt is finished, not postponed.
PERMANENT_CODES = frozenset(
    {
        Code.INVALID_NUMBER,
        Code.COUNTRY_NOT_ALLOWED,
        Code.LEAD_DNC_PHONE,
        Code.LEAD_DNC_SMS,
        Code.LEAD_DNC_EMAIL,
        Code.COMPANY_DNC,
        Code.COMPANY_DNT,
        Code.MAX_ATTEMPTS,
        Code.TZ_UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class Reason:
    """One failing rule: `rule` names it (`federal`, `state:FL`, `campaign`, `company`,
    `list:dnc`, `lead`), `detail` carries what matched (entry, zone and local time, cap and
    count)."""

    code: Code
    rule: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_CODES

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "rule": self.rule, "detail": self.detail}
