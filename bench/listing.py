"""`dialer dnc log --json --all` over 1M audit events: time and peak RSS, each in a fresh
child process on one SQLite file, against two baselines measured in the same run: a raw
SELECT of the same rows written as JSON lines (the rate), and `dnc log --json --limit 1`
(the memory of the interpreter, SQLAlchemy and the CLI, without the rows).

Targets: at least TARGET_RATIO of the raw SELECT's rate; peak RSS at most TARGET_GROWTH_MB
above `--limit 1`, whatever the number of events. That is SQLite's page cache (64 MiB, see
dialer.database), which fills as the rows are read, and some slack: the rows themselves
stream (with a 2 MiB cache, --all over 1.1M events peaked 4 MB above --limit 1).

Run: `python -m bench.listing`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import compare

EVENTS = 1_000_000
TARGET_GROWTH_MB = 128
TARGET_RATIO = 0.05

# The child reports its own peak RSS on stderr: its standard output is the listing.
_PEAK = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
    " file=sys.stderr))\n"
)
LOG = _PEAK + "from dialer.cli import main\nmain(['dnc', 'log', '--json', sys.argv[2]])\n"
BASELINE = _PEAK + (
    "import json, sqlite3\n"
    "for row in sqlite3.connect(sys.argv[1]).execute(\n"
    "    'SELECT id, at, action, list_name, number, lead_id, channels, source, reason, actor'\n"
    "    ' FROM dnc_events ORDER BY id'):\n"
    "    sys.stdout.write(json.dumps(row) + '\\n')\n"
)


def seed(database: Path, env: dict[str, str]) -> None:
    """A schema by `dialer init`, then EVENTS add events of the default company."""
    subprocess.run(
        [sys.executable, "-m", "dialer", "init"], env=env, check=True, capture_output=True
    )
    with sqlite3.connect(database) as conn:
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO dnc_events (company_id, at, action, list_name, number, source,
                                    reason, actor)
            SELECT (SELECT id FROM companies WHERE name = 'default'),
                   '2026-03-10 15:00:00.000000', 'add', 'dnc', 12125550000 + i, 'upload',
                   'upload of bench.csv', 'bench'
            FROM n
            """,
            (EVENTS,),
        )


def measure(script: str, database: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child writing the listing to /dev/null."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(database), *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, float(done.stderr.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as scratch:
        database = Path(scratch) / "dialer.db"
        env = {
            "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "DIALER_LOG_LEVEL": "WARNING",
            "PATH": "",
        }
        seed(database, env)
        base_time, base_peak = measure(BASELINE, database, env)
        _, floor = measure(LOG, database, env, "--limit=1")
        our_time, our_peak = measure(LOG, database, env, "--all")
    print(
        f"listing: dnc log --json --all of {EVENTS:,} events in {our_time:.1f}s, "
        f"peak RSS {our_peak:.1f} MB; --limit 1 peak RSS {floor:.1f} MB; "
        f"raw SELECT {base_time:.1f}s, peak RSS {base_peak:.1f} MB",
        flush=True,
    )
    compare("listing", EVENTS / our_time, EVENTS / base_time, "raw SELECT", TARGET_RATIO, "events")
    growth = our_peak - floor
    verdict = "ok" if growth < TARGET_GROWTH_MB else "ABOVE TARGET"
    print(
        f"listing: peak RSS of --all above --limit 1: {growth:+.1f} MB "
        f"(target < {TARGET_GROWTH_MB} MB) {verdict}"
    )


if __name__ == "__main__":
    main()
