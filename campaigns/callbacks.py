"""The raw carrier callbacks, each kept once: the record of what the carrier said."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.tables import call_events

# The status a keypress is stored under: a Gather's request is no status callback, but it
# is kept once per call like one.
KEYPRESS = "keypress"


@dataclass(frozen=True, slots=True, eq=False)  # each one counts: compared by identity
class Received:
    """One callback as received: the attempt it names, the call or message and its status."""

    attempt_id: int
    sid: str
    status: str
    params: Mapping[str, str]


async def store_once(
    conn: AsyncConnection, received: Sequence[Received], now: datetime
) -> list[Received]:
    """Keep each callback once per (sid, status); returns those that were not repeats."""
    if not received:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Many parameter sets with RETURNING: SQLAlchemy sends them as multi-row INSERTs of a
    # size each database accepts, compiled once and cached.
    result = await conn.execute(
        dialect.insert(call_events)
        .on_conflict_do_nothing(index_elements=["carrier_sid", "status"])
        .returning(call_events.c.carrier_sid, call_events.c.status),
        [
            {
                "attempt_id": r.attempt_id,
                "carrier_sid": r.sid,
                "status": r.status,
                "params": json.dumps(dict(r.params), sort_keys=True),
                "received_at": now,
            }
            # In attempt order: each row takes a key-share lock on its attempt, which the
            # placing of a batch (it sets carrier_sid, a unique key) must not take in reverse.
            for r in sorted(received, key=lambda r: r.attempt_id)
        ],
    )
    new = {(sid, status) for sid, status in result}
    fresh = []
    for r in received:  # a repeat inside the batch is a repeat too
        key = (r.sid, r.status)
        if key in new:
            new.discard(key)
            fresh.append(r)
    return fresh
