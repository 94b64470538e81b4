"""What each class of inbound text does: the [action.*] tables of `config/keywords.toml`.

In the call statuses' action vocabulary (`campaigns.statuses`), so an opt-out by text adds to
the lists the way an opt-out status does. The words that make each class are
`compliance.keywords`' part of the same file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaigns.statuses import (
    Action,
    ActionKind,
    InvalidDefinition,
    only_keys,
    parse_action,
    parse_actions,
    toml_table,
)
from compliance.dnc import Source
from compliance.keywords import DEFAULT_KEYWORDS_PATH, OPT_OUTS, MessageClass
from compliance.wording import toml_value

__all__ = ["SOURCE", "KeywordAction", "load_keyword_actions", "parse_keyword_actions"]

# Every entry an inbound text adds has this source, and START removes only entries with it.
SOURCE = Source.SMS_KEYWORD
COMPANY_LISTS = frozenset({ActionKind.COMPANY_DNC, ActionKind.COMPANY_DNT})
# The fields each class may have; every class but other needs its table.
FIELDS = {
    MessageClass.OPT_OUT: {"actions", "reply", "review"},
    MessageClass.OPT_OUT_PRESUMED: {"actions", "reply", "review"},
    MessageClass.OPT_IN: {"remove", "reply", "review"},
    MessageClass.HELP: {"reply", "review"},
    MessageClass.OTHER: {"review"},
}


@dataclass(frozen=True, slots=True)
class KeywordAction:
    """What a message of one class does.

    `actions`: the statuses' actions it takes (entries added with source SOURCE);
    `removes`: the company lists from which START removes that number's SOURCE entries;
    `reply`: answer with the company's text for the class; `review`: every such message goes
    to the review queue.
    """

    actions: tuple[Action, ...] = ()
    removes: tuple[Action, ...] = ()
    reply: bool = False
    review: bool = False


def load_keyword_actions(path: Path | None = None) -> dict[MessageClass, KeywordAction]:
    """Read and check what each class does (default: the repository's config/keywords.toml);
    every class has an entry."""
    path = path or DEFAULT_KEYWORDS_PATH
    try:
        with path.open("rb") as file:
            return parse_keyword_actions(tomllib.load(file))
    except (InvalidDefinition, tomllib.TOMLDecodeError) as error:
        raise InvalidDefinition(f"{path.name}: {error}") from None


def parse_keyword_actions(data: Mapping[str, Any]) -> dict[MessageClass, KeywordAction]:
    """Build the actions of every class from parsed TOML, checking the [action.*] tables (the
    rest of the file is compliance.keywords' to check)."""
    tables = toml_table(data.get("action"), "action")
    only_keys(tables, set(FIELDS), "action")
    actions = {}
    for kind, fields in FIELDS.items():
        where = f"action.{kind}"
        if kind not in tables and kind is not MessageClass.OTHER:
            raise InvalidDefinition(f"{where}: required (a [{where}] table)")
        actions[kind] = _keyword_action(
            toml_table(tables.get(kind, {}), where), fields, kind, where
        )
    return actions


def _keyword_action(
    table: Mapping[str, Any], fields: set[str], kind: MessageClass, where: str
) -> KeywordAction:
    only_keys(table, fields, where)
    adds = parse_actions(table.get("actions", []), where)
    if kind in OPT_OUTS and not COMPANY_LISTS & {action.kind for action in adds}:
        raise InvalidDefinition(
            f"{where}, actions: an opt-out must add to a company list (company_dnc or company_dnt)"
        )
    return KeywordAction(
        adds, _removes(table, where), _flag(table, "reply", where), _flag(table, "review", where)
    )


def _removes(table: Mapping[str, Any], where: str) -> tuple[Action, ...]:
    values = table.get("remove", [])
    if not isinstance(values, list):
        raise InvalidDefinition(f"{where}, remove: must be a list, got {toml_value(values)}")
    removes = tuple(parse_action(value, f"{where}, remove") for value in values)
    if len(set(removes)) < len(removes):
        raise InvalidDefinition(f"{where}, remove: a list is named twice")
    if any(action.kind not in COMPANY_LISTS for action in removes):
        raise InvalidDefinition(
            f"{where}, remove: only company_dnc and company_dnt, got {toml_value(values)}"
        )
    return removes


def _flag(table: Mapping[str, Any], field: str, where: str) -> bool:
    value = table.get(field, False)
    if not isinstance(value, bool):
        raise InvalidDefinition(f"{where}, {field}: true or false, got {toml_value(value)}")
    return value
