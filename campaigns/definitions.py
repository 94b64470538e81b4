"""Campaign definitions: the TOML a campaign manager writes, checked into a `CampaignSpec`.

Campaigns run unattended, so anything doubtful is refused up front with one message naming the
file and the field, rather than guessed at while dialing. Checks that need the company's
statuses (retry codes, the IVR opt-out key) run when both are known: `check_retry_statuses`,
`check_optout_digit`.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from campaigns.statuses import (
    DIGITS,
    STATUS_CODE,
    ActionKind,
    InvalidDefinition,
    StatusBook,
)
from compliance import CampaignWindow, Channel, InvalidNumber, LeadChannel, normalize
from compliance.wording import toml_value

__all__ = [
    "LEAD_FIELDS",
    "CampaignSpec",
    "check_optout_digit",
    "check_retry_statuses",
    "load_campaign",
    "parse_campaign",
    "parse_duration",
    "render_sms",
]

# The lead columns a text may quote; phone and timezone are the dialer's business.
LEAD_FIELDS = ("first_name", "last_name", "email", "state", "postal_code", "external_id")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REQUIRED = (
    "name",
    "channel",
    "leads",
    "caller_id",
    "max_attempts",
    "max_concurrent",
    "attempts_per_second",
)
_OPTIONAL = ("window", "retry", "sms_body", "ivr_optout_digit", "ivr_prompt")
DEFAULT_IVR_PROMPT = "To stop receiving these calls, press {digit}."
# A prompt is spoken text: long enough for a sentence or two, short enough for a call.
MAX_PROMPT = 500
_CLOCK = re.compile(r"(\d{2}):(\d{2})")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# The longest retry delay: a year covers any follow-up plan, and instants a year past any
# accepted one are still far from overflowing.
MAX_DURATION = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A checked campaign definition. `window` None: only the legal calling hours apply.

    `retry` maps a non-final status code to how long after that outcome the lead is tried
    again. `sms_body` is set exactly for sms campaigns, `ivr_optout_digit` and `ivr_prompt`
    for voice ones; the prompt names the key through its `{digit}`.
    """

    name: str
    channel: Channel
    leads: str
    caller_id: str
    max_attempts: int
    max_concurrent: int
    attempts_per_second: int
    window: CampaignWindow | None = None
    retry: dict[str, timedelta] = field(default_factory=dict)
    sms_body: str | None = None
    ivr_optout_digit: str | None = None
    ivr_prompt: str | None = None

    def spoken_prompt(self) -> str:
        """What a voice call says when answered: the prompt with its key filled in."""
        return (self.ivr_prompt or DEFAULT_IVR_PROMPT).replace(
            "{digit}", self.ivr_optout_digit or ""
        )


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and check a campaign file; every problem raises InvalidDefinition naming it."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return parse_campaign(tomllib.load(file))
    except (InvalidDefinition, tomllib.TOMLDecodeError) as error:
        raise InvalidDefinition(f"{path.name}: {error}") from None


def parse_campaign(data: Mapping[str, Any]) -> CampaignSpec:
    """Build a CampaignSpec from parsed TOML, checking every field."""
    unknown = sorted(set(data) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise InvalidDefinition(f"unknown field(s) {', '.join(unknown)}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise InvalidDefinition(f"missing field(s) {', '.join(missing)}")
    channel = _channel(data["channel"])
    return CampaignSpec(
        name=_text(data, "name"),
        channel=channel,
        leads=_text(data, "leads"),
        caller_id=_caller_id(data["caller_id"]),
        max_attempts=_positive(data, "max_attempts"),
        max_concurrent=_positive(data, "max_concurrent"),
        attempts_per_second=_positive(data, "attempts_per_second"),
        window=_window(data["window"]) if "window" in data else None,
        retry=_retry(data.get("retry", {})),
        sms_body=_sms_body(data.get("sms_body"), channel),
        ivr_optout_digit=_optout_digit(data.get("ivr_optout_digit"), channel),
        ivr_prompt=_ivr_prompt(data.get("ivr_prompt"), channel),
    )


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '4h', '1d', '1h30m' -> timedelta (units in d, h, m, s order); ValueError
    for anything else, including zero and more than MAX_DURATION."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) and text else None
    if match is None:
        raise ValueError(f"{toml_value(text)} is not a duration like 90s, 30m, 4h, 1d or 1h30m")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    # Summed as whole seconds first: timedelta itself overflows past 999,999,999 days.
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if not total:
        raise ValueError(f"{toml_value(text)}: a duration must be longer than zero")
    if total > MAX_DURATION.total_seconds():
        raise ValueError(f"{toml_value(text)}: a duration must be at most {MAX_DURATION.days} days")
    return timedelta(seconds=total)


def check_retry_statuses(spec: CampaignSpec, book: StatusBook) -> None:
    """Refuse retry delays for unknown or final statuses and, when a lead may be attempted more
    than once, a missing delay for a non-final status the campaign's channel can produce: an
    unattended campaign must not guess how soon to call again."""
    for code in spec.retry:
        if code not in book.statuses:
            raise InvalidDefinition(f"retry.{code}: there is no status {code}")
        if book.statuses[code].final:
            raise InvalidDefinition(
                f"retry.{code}: {code} is final, a lead given it is not retried"
            )
    if spec.max_attempts == 1:
        return
    missing = sorted(
        code
        for code in book.carrier_statuses(spec.channel)
        if not book.statuses[code].final and code not in spec.retry
    )
    if missing:
        raise InvalidDefinition(
            f"retry: no delay for {', '.join(missing)} (not final, so retried): "
            f'add e.g. {missing[0]} = "4h"'
        )


def check_optout_digit(spec: CampaignSpec, book: StatusBook) -> None:
    """The IVR opt-out key must map to a status that actually blocks the number: a status does
    nothing by its name."""
    if spec.ivr_optout_digit is None:
        return
    status = book.status_for("answered", spec.ivr_optout_digit)
    if not any(
        action.kind is ActionKind.COMPANY_DNC
        or (action.kind is ActionKind.LEAD_DNC and action.argument is LeadChannel.PHONE)
        for action in status.actions
    ):
        raise InvalidDefinition(
            f"ivr_optout_digit: pressing {spec.ivr_optout_digit!r} gives status {status.code}, "
            "which blocks nothing; map it to a status with company_dnc or lead_dnc:phone"
        )


def render_sms(body: str, lead_fields: Mapping[str, str | None]) -> str:
    """Fill the body's {placeholders} from the lead; a missing or empty field renders as ''."""
    _placeholders(body)
    return "".join(
        literal + ("" if name is None else lead_fields.get(name) or "")
        for literal, name, _, _ in string.Formatter().parse(body)
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not (isinstance(value, str) and value.strip()):
        raise InvalidDefinition(f"{key}: must be non-empty text, got {toml_value(value)}")
    return value.strip()


def _channel(value: Any) -> Channel:
    if value not in (Channel.VOICE, Channel.SMS):
        raise InvalidDefinition(f"channel: {toml_value(value)} must be 'voice' or 'sms'")
    return Channel(value)


def _caller_id(value: Any) -> str:
    """Exactly E.164: the From number is sent to the carrier as written."""
    try:
        number = normalize(value)
    except InvalidNumber as error:
        raise InvalidDefinition(f"caller_id: {error}") from None
    if value != number.e164:
        raise InvalidDefinition(
            f"caller_id: {toml_value(value)} is not E.164; write '{number.e164}'"
        )
    return number.e164


def _positive(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise InvalidDefinition(f"{key}: must be a positive whole number, got {toml_value(value)}")
    return value


def _window(value: Any) -> CampaignWindow:
    if not isinstance(value, Mapping):
        raise InvalidDefinition(
            f'window: expected {{ start = "09:00", end = "20:00" }}, got {toml_value(value)}'
        )
    unknown = sorted(set(value) - {"start", "end", "days"})
    if unknown:
        raise InvalidDefinition(f"window: unknown field(s) {', '.join(unknown)}")
    if "start" not in value or "end" not in value:
        raise InvalidDefinition("window: both start and end are required")
    start, end = _clock(value["start"], "window.start"), _clock(value["end"], "window.end")
    if not start < end:
        raise InvalidDefinition(f"window: start {start:%H:%M} must be before end {end:%H:%M}")
    days = _days(value.get("days", list(DAYS)))
    return CampaignWindow(start, end, days)


def _clock(value: Any, where: str) -> time:
    if isinstance(value, time):  # TOML's own time, written without quotes
        raise InvalidDefinition(f"{where}: write the time in quotes, '{value:%H:%M}'")
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError
        return time(int(match[1]), int(match[2]))
    except ValueError:
        raise InvalidDefinition(
            f"{where}: {toml_value(value)} is not a time 'HH:MM' (00:00-23:59)"
        ) from None


def _days(value: Any) -> frozenset[int]:
    if not (isinstance(value, list) and value):
        raise InvalidDefinition(
            f'window.days: must list days, e.g. ["mon", "tue"], got {toml_value(value)}'
        )
    unknown = [day for day in value if day not in DAYS]
    if unknown:
        raise InvalidDefinition(
            f"window.days: unknown day(s) {', '.join(map(toml_value, unknown))}; "
            f"choose from {', '.join(DAYS)}"
        )
    if len(set(value)) < len(value):
        raise InvalidDefinition("window.days: a day is listed twice")
    return frozenset(DAYS.index(day) for day in value)


def _retry(value: Any) -> dict[str, timedelta]:
    if not isinstance(value, Mapping):
        raise InvalidDefinition(
            f'retry: expected {{ NO_ANSWER = "4h", ... }}, got {toml_value(value)}'
        )
    delays = {}
    for code, text in value.items():
        if not (isinstance(code, str) and STATUS_CODE.fullmatch(code)):
            raise InvalidDefinition(f"retry.{code}: not a status code (e.g. NO_ANSWER)")
        try:
            delays[code] = parse_duration(text)
        except ValueError as error:
            raise InvalidDefinition(f"retry.{code}: {error}") from None
    return delays


def _sms_body(value: Any, channel: Channel) -> str | None:
    if channel is not Channel.SMS:
        if value is not None:
            raise InvalidDefinition("sms_body: only an sms campaign sends a text")
        return None
    if not (isinstance(value, str) and value.strip()):
        raise InvalidDefinition(
            f"sms_body: an sms campaign needs the text to send, got {toml_value(value)}"
        )
    try:
        _placeholders(value)
    except ValueError as error:
        raise InvalidDefinition(f"sms_body: {error}") from None
    return value


def _placeholders(body: str) -> None:
    """Only plain {lead_field}: no positions, attributes, conversions or format specs."""
    try:
        fields = [
            (name, conversion, spec)
            for _, name, spec, conversion in string.Formatter().parse(body)
            if name is not None
        ]
    except ValueError as error:
        raise ValueError(f"{error} (write {{{{ and }}}} for literal braces)") from None
    for name, conversion, spec in fields:
        if name not in LEAD_FIELDS or conversion or spec:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(
                f"{{{shown}}} is not a lead field; use {', '.join(f'{{{f}}}' for f in LEAD_FIELDS)}"
            )


def _optout_digit(value: Any, channel: Channel) -> str | None:
    if channel is not Channel.VOICE:
        if value is not None:
            raise InvalidDefinition("ivr_optout_digit: only a voice campaign has an IVR")
        return None
    # Automated calls must offer an opt-out by key press, so a voice campaign needs one.
    if not (isinstance(value, str) and len(value) == 1 and DIGITS.fullmatch(value)):
        raise InvalidDefinition(
            "ivr_optout_digit: a voice campaign needs one keypad key (0-9, * or #), "
            f"got {toml_value(value)}"
        )
    return value


def _ivr_prompt(value: Any, channel: Channel) -> str | None:
    if channel is not Channel.VOICE:
        if value is not None:
            raise InvalidDefinition("ivr_prompt: only a voice campaign has an IVR")
        return None
    if value is None:
        return DEFAULT_IVR_PROMPT
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PROMPT:
        raise InvalidDefinition(
            f"ivr_prompt: expected the text to say, 1 to {MAX_PROMPT} characters, "
            f"got {toml_value(value)}"
        )
    # The caller must hear which key opts out: a prompt that does not say it is refused.
    if "{digit}" not in value:
        raise InvalidDefinition(
            "ivr_prompt: must name the opt-out key as {digit}, e.g. "
            '"To stop receiving these calls, press {digit}."'
        )
    return value
