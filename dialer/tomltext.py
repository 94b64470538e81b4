"""JSON fields as TOML text: a client may send a campaign's definition or the statuses as
JSON, and they are checked and stored as the TOML a person would have written, so that the
CLI and the API check one text the same way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# What a TOML basic string escapes: quotes, backslashes and control characters.
_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')


def dumps(fields: Mapping[str, Any]) -> str:
    """`fields` (JSON values: text, numbers, booleans, arrays, objects) as TOML key/value
    lines, objects as inline tables; a None is left out, as a missing field."""
    return "".join(f"{_key(key)} = {_value(value)}\n" for key, value in _present(fields))


def _present(fields: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(key, value) for key, value in fields.items() if value is not None]


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{_key(key)} = {_value(item)}" for key, item in _present(value))
        return "{ " + pairs + " }" if pairs else "{}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _string(text: str) -> str:
    return '"' + _ESCAPED.sub(lambda match: f"\\u{ord(match[0]):04x}", text) + '"'
