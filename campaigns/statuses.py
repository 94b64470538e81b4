"""Call statuses: what a carrier outcome means for a company, and what each status does.

A company's statuses and outcome map come from TOML (default: `config/statuses.toml`). A
status does nothing by its name: only its configured actions add DNC entries or change a lead.
The map must be complete: every carrier result needs a rule without digits, so `status_for`
always has an answer and a new outcome can never be dropped silently.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from compliance import Channel, LeadChannel
from compliance.wording import toml_value

__all__ = [
    "DEFAULT_STATUSES_PATH",
    "RESULTS_OF",
    "Action",
    "ActionKind",
    "CallStatus",
    "CarrierResult",
    "InvalidDefinition",
    "OutcomeRule",
    "StatusBook",
    "load_statuses",
    "parse_statuses",
]

DEFAULT_STATUSES_PATH = Path(__file__).resolve().parent.parent / "config" / "statuses.toml"

# Codes are also TOML bare keys in a campaign's `retry` table, and appear in reports.
STATUS_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
# What a caller can press on a phone keypad.
DIGITS = re.compile(r"[0-9*#]+")


class InvalidDefinition(ValueError):
    """A campaign or status definition that cannot be used; the message names file and field."""


class CarrierResult(StrEnum):
    """What the carrier reports for one attempt (calls, then texts)."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"
    MACHINE = "machine"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


# The results each channel's attempts can produce.
RESULTS_OF: dict[Channel, frozenset[CarrierResult]] = {
    Channel.VOICE: frozenset(
        {
            CarrierResult.ANSWERED,
            CarrierResult.NO_ANSWER,
            CarrierResult.BUSY,
            CarrierResult.FAILED,
            CarrierResult.MACHINE,
        }
    ),
    Channel.SMS: frozenset(
        {CarrierResult.DELIVERED, CarrierResult.UNDELIVERED, CarrierResult.FAILED}
    ),
}


class ActionKind(StrEnum):
    COMPANY_DNC = "company_dnc"
    COMPANY_DNT = "company_dnt"
    LEAD_DNC = "lead_dnc"
    LEAD_STATUS = "lead_status"


@dataclass(frozen=True, slots=True)
class Action:
    """One effect of a status: `argument` is the LeadChannel of lead_dnc, the new value of
    lead_status, None for the company lists."""

    kind: ActionKind
    argument: LeadChannel | str | None = None

    def __str__(self) -> str:
        return self.kind.value if self.argument is None else f"{self.kind}:{self.argument}"


@dataclass(frozen=True, slots=True)
class CallStatus:
    """`final`: the lead is never attempted again by the campaign; otherwise it is retried
    after the campaign's retry delay for this code."""

    code: str
    label: str
    final: bool
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    """Maps a carrier result (and, for answered calls, the exact keys pressed) to a status."""

    result: CarrierResult
    digits: str | None
    status: str

    def matches(self, result: CarrierResult, digits: str | None) -> bool:
        return self.result == result and self.digits in (None, digits)


@dataclass(frozen=True, slots=True)
class StatusBook:
    """A company's statuses by code, and its outcome map in order (first match wins)."""

    statuses: dict[str, CallStatus]
    rules: tuple[OutcomeRule, ...]

    def status_for(self, result: str, digits: str | None = None) -> CallStatus:
        """The status of the first rule matching `result` and `digits` (compared exactly,
        no digits = None or ''). `parse_statuses` guarantees one matches every known result;
        an unknown result raises ValueError."""
        try:
            outcome = CarrierResult(result)
        except ValueError:
            raise ValueError(f"unknown carrier result {toml_value(result)}") from None
        pressed = digits or None
        rule = next(rule for rule in self.rules if rule.matches(outcome, pressed))
        return self.statuses[rule.status]

    def carrier_statuses(self, channel: Channel) -> frozenset[str]:
        """The codes the map can give an attempt on `channel` (not those set by hand)."""
        results = RESULTS_OF[channel]
        return frozenset(rule.status for rule in self.rules if rule.result in results)


def load_statuses(path: Path | None = None) -> StatusBook:
    """Read and check a status file (default: the repository's config/statuses.toml)."""
    path = path or DEFAULT_STATUSES_PATH
    try:
        with path.open("rb") as file:
            return parse_statuses(tomllib.load(file))
    except (InvalidDefinition, tomllib.TOMLDecodeError) as error:
        raise InvalidDefinition(f"{path.name}: {error}") from None


def parse_statuses(data: Mapping[str, Any]) -> StatusBook:
    """Build a StatusBook from parsed TOML, checking every [[status]] and [[map]] table."""
    only_keys(data, {"status", "map"}, "top level")
    statuses: dict[str, CallStatus] = {}
    for where, table in _tables(data, "status"):
        status = _status(table, where)
        if status.code in statuses:
            raise InvalidDefinition(f"{where}, code: {status.code} is defined twice")
        statuses[status.code] = status
    rules = tuple(_rule(table, where, statuses) for where, table in _tables(data, "map"))
    _check_rules(rules)
    return StatusBook(statuses, rules)


def _tables(data: Mapping[str, Any], kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = data.get(kind, [])
    if not isinstance(items, list):
        raise InvalidDefinition(f"write each {kind} as [[{kind}]] (an array of tables)")
    return [(f"{kind} #{n}", toml_table(item, f"{kind} #{n}")) for n, item in enumerate(items, 1)]


def _status(table: Mapping[str, Any], where: str) -> CallStatus:
    only_keys(table, {"code", "label", "final", "actions"}, where)
    code = table.get("code")
    if not (isinstance(code, str) and STATUS_CODE.fullmatch(code)):
        raise InvalidDefinition(
            f"{where}, code: {toml_value(code)} must be upper-case letters, digits and _ "
            "(e.g. NO_ANSWER)"
        )
    where = f"{where} ({code})"
    label = table.get("label", code)
    if not (isinstance(label, str) and label.strip()):
        raise InvalidDefinition(f"{where}, label: must be non-empty text, got {toml_value(label)}")
    # Required: a missing `final` would have to guess between retrying and stopping.
    final = table.get("final")
    if not isinstance(final, bool):
        raise InvalidDefinition(f"{where}, final: required, true or false, got {toml_value(final)}")
    return CallStatus(code, label.strip(), final, parse_actions(table.get("actions", []), where))


def parse_actions(values: Any, where: str) -> tuple[Action, ...]:
    if not isinstance(values, list):
        raise InvalidDefinition(f"{where}, actions: must be a list, got {toml_value(values)}")
    actions = tuple(parse_action(value, f"{where}, actions") for value in values)
    if len(set(actions)) < len(actions):
        raise InvalidDefinition(f"{where}, actions: an action is listed twice")
    if sum(action.kind is ActionKind.LEAD_STATUS for action in actions) > 1:
        raise InvalidDefinition(f"{where}, actions: at most one lead_status:VALUE")
    return actions


def parse_action(value: Any, where: str) -> Action:
    """'company_dnc', 'lead_dnc:sms', 'lead_status:Closed' -> Action."""
    text = value.strip() if isinstance(value, str) else ""
    name, _, argument = text.partition(":")
    argument = argument.strip()
    if name in (ActionKind.COMPANY_DNC, ActionKind.COMPANY_DNT) and not argument:
        return Action(ActionKind(name))
    if name == ActionKind.LEAD_DNC and argument in set(LeadChannel):
        return Action(ActionKind.LEAD_DNC, LeadChannel(argument))
    if name == ActionKind.LEAD_STATUS:
        if not argument:
            raise InvalidDefinition(
                f"{where}: {toml_value(value)} needs a value, e.g. lead_status:closed"
            )
        return Action(ActionKind.LEAD_STATUS, argument)
    raise InvalidDefinition(
        f"{where}: unknown action {toml_value(value)}; choose from company_dnc, company_dnt, "
        "lead_dnc:phone, lead_dnc:sms, lead_dnc:email, lead_status:VALUE"
    )


def _rule(table: Mapping[str, Any], where: str, statuses: Mapping[str, CallStatus]) -> OutcomeRule:
    only_keys(table, {"result", "digits", "status"}, where)
    result = table.get("result")
    if not (isinstance(result, str) and result in set(CarrierResult)):
        choices = ", ".join(CarrierResult)
        raise InvalidDefinition(
            f"{where}, result: unknown result {toml_value(result)}; choose from {choices}"
        )
    outcome = CarrierResult(result)
    digits = table.get("digits")
    if digits is not None:
        if not (isinstance(digits, str) and DIGITS.fullmatch(digits)):
            raise InvalidDefinition(
                f"{where}, digits: {toml_value(digits)} must be keypad keys 0-9, * or # in quotes"
            )
        # Only a person on an answered call can press a key.
        if outcome is not CarrierResult.ANSWERED:
            raise InvalidDefinition(f"{where}, digits: only an 'answered' result has digits")
    status = table.get("status")
    if not (isinstance(status, str) and status in statuses):
        raise InvalidDefinition(
            f"{where}, status: {toml_value(status)} is not a defined [[status]] code"
        )
    return OutcomeRule(outcome, digits, status)


def _check_rules(rules: tuple[OutcomeRule, ...]) -> None:
    """Every result has a catch-all rule, and no rule hides behind an earlier one (first match
    wins: a generic 'answered' rule placed before 'answered + 9' would swallow opt-outs)."""
    for n, rule in enumerate(rules, 1):
        earlier = next(
            (m for m, e in enumerate(rules[: n - 1], 1) if e.matches(rule.result, rule.digits)),
            None,
        )
        if earlier is not None:
            raise InvalidDefinition(
                f"map #{n}: never used, map #{earlier} already matches result '{rule.result}'"
                + (f" with digits {toml_value(rule.digits)}" if rule.digits else "")
            )
    missing = [r.value for r in CarrierResult if not any(x.matches(r, None) for x in rules)]
    if missing:
        raise InvalidDefinition(
            f"map: no rule without digits for result(s) {', '.join(missing)}; "
            "every carrier result needs one"
        )


def toml_table(value: Any, where: str) -> Mapping[str, Any]:
    """`value` if it is a TOML table; InvalidDefinition naming `where` otherwise."""
    if not isinstance(value, Mapping):
        raise InvalidDefinition(f"{where}: expected a table, got {toml_value(value)}")
    return value


def only_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(toml_table(table, where)) - allowed)
    if unknown:
        raise InvalidDefinition(f"{where}: unknown field(s) {', '.join(unknown)}")
