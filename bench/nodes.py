"""Nodes: attempts placed per second with 1, 2 and 3 `dialer serve` nodes on one PostgreSQL
database against the same simulator, as a ratio to one node (target >= 0.8 x N until the
database saturates), on one campaign and on three: a campaign is ticked by one node per
interval (dialer/scheduling/leases.py), so one campaign's rate need not grow with nodes.

A moderate size for `make bench` (bounded at about 6 x 40 s of dialing); `make loadtest`
runs it at the full size. Each run is a load test of its own (bench/loadtest.py): a fresh
database, its invariants checked and printed.

Run: `python -m bench.nodes [LEADS]` (default 4,000).
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from bench.loadtest import Options, scaling
from bench.upload import POSTGRES_SERVER

LEADS = 4_000
SECONDS_MAX = 40.0


async def postgres_answers() -> bool:
    try:
        connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/test")
    except OSError:
        return False
    await connection.close()
    return True


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else LEADS
    if not asyncio.run(postgres_answers()):
        print(f"nodes: skipped, no PostgreSQL at {POSTGRES_SERVER}", flush=True)
        return
    for campaigns in (1, 3):
        scaling(Options(leads=leads, campaigns=campaigns, seconds_max=SECONDS_MAX), (1, 2, 3))


if __name__ == "__main__":
    main()
