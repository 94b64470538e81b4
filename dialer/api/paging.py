"""Cursor pages for list endpoints: `?limit=&cursor=` answers `{"data": [...],
"next_cursor": ..., "next_url": ...}`, both null on the last page. A cursor is opaque to
clients (the position of the last item shown, encoded: its id, or a listing's own key);
one that no page gave is a 400 problem."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from dialer.api.errors import Problem
from dialer.api.schemas import PageQuery

_ID = re.compile(r"[1-9][0-9]{0,9}")
# Ids are 32-bit integers in storage.
MAX_ID = 2**31 - 1
_PREFIX = "after:"


def position(query: PageQuery, form: re.Pattern[str]) -> re.Match[str] | None:
    """The position a page starts after, matched in full by `form`: None for the first
    page."""
    if query.cursor is None:
        return None
    padded = query.cursor + "=" * (-len(query.cursor) % 4)
    try:
        text = base64.b64decode(padded, b"-_", validate=True).decode("ascii")
    except ValueError:  # not base64 (binascii.Error), not ASCII, before or after decoding
        text = ""
    match = form.fullmatch(text.removeprefix(_PREFIX)) if text.startswith(_PREFIX) else None
    if match is None:
        raise _invalid()
    return match


def after(query: PageQuery) -> int | None:
    """The id a page starts after: None for the first page."""
    match = position(query, _ID)
    if match is None:
        return None
    if int(match[0]) > MAX_ID:  # no page gave it, and PostgreSQL would refuse to compare
        raise _invalid()
    return int(match[0])


def _invalid() -> Problem:
    return Problem(400, "invalid_cursor", "not a cursor a page gave: follow its next_url")


def cursor(last: int | str) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last}".encode()).decode().rstrip("=")


def page(
    request: web.Request,
    items: Sequence[Mapping[str, Any]],
    limit: int,
    key: str | Callable[[Mapping[str, Any]], str] = "id",
) -> dict[str, Any]:
    """The page of `items` (fetched `limit` + 1, to know whether another page follows);
    `key` gives an item's position: a field's name, or a function of the item."""
    shown = list(items[:limit])
    if len(items) <= limit:
        return {"data": shown, "next_cursor": None, "next_url": None}
    last = shown[-1]
    following = cursor(key(last) if callable(key) else last[key])
    next_url = request.rel_url.update_query(cursor=following)
    return {"data": shown, "next_cursor": following, "next_url": str(next_url)}
