"""How messages quote what a file held: as TOML writes it, never as a Python repr
(`datetime.time(9, 0)`, `None`, `True`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, time
from typing import Any

# Longer text is cut: a message names the value, it need not repeat a paragraph.
LONGEST = 60


def toml_value(value: Any) -> str:
    """`value` as a TOML file would hold it: 'text', 5, true, 09:00:00, [...], { ... };
    "nothing" for a field that is not there."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        cut = value if len(value) <= LONGEST else value[: LONGEST - 1] + "…"
        # A TOML literal string when it can be one, else a basic string with its escapes.
        literal = "'" not in cut and cut.isprintable()
        return f"'{cut}'" if literal else json.dumps(cut, ensure_ascii=False)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return str(value)
