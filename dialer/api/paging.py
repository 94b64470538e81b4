"""Cursor pages for list endpoints: `?limit=&cursor=` answers `{"data": [...],
"next_cursor": ..., "next_url": ...}`, both null on the last page. A cursor is opaque to
clients (the last id shown, encoded); one that no page gave is a 400 problem."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from dialer.api.errors import Problem
from dialer.api.schemas import PageQuery

_CURSOR = re.compile(r"after:([1-9][0-9]{0,9})")


def after(query: PageQuery) -> int | None:
    """The id a page starts after: None for the first page."""
    if query.cursor is None:
        return None
    padded = query.cursor + "=" * (-len(query.cursor) % 4)
    try:
        match = _CURSOR.fullmatch(base64.b64decode(padded, b"-_", validate=True).decode("ascii"))
    except (binascii.Error, UnicodeDecodeError):
        match = None
    if match is None:
        raise Problem(400, "invalid_cursor", "not a cursor a page gave: follow its next_url")
    return int(match[1])


def cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def page(
    request: web.Request, items: Sequence[Mapping[str, Any]], limit: int, key: str = "id"
) -> dict[str, Any]:
    """The page of `items` (fetched `limit` + 1, to know whether another page follows)."""
    shown = list(items[:limit])
    if len(items) <= limit:
        return {"data": shown, "next_cursor": None, "next_url": None}
    following = cursor(shown[-1][key])
    next_url = request.rel_url.update_query(cursor=following)
    return {"data": shown, "next_cursor": following, "next_url": str(next_url)}
