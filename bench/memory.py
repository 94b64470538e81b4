"""Peak memory of a DNC upload at 1M and 10M rows: it must not grow with the file.

Each upload runs in a fresh child process (`dialer dnc import` into a new SQLite file),
which reports its own peak RSS. Target: 10M rows peak under 50 MB above 1M rows peak.

Run: `python -m bench.memory`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.upload import write_upload

TARGET_GROWTH_MB = 50
SIZES = (1_000_000, 10_000_000)


def peak_rss_mb(upload: Path, database: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one `dialer dnc import` in a child process."""
    env_url = f"sqlite+aiosqlite:///{database}"
    script = (
        "import resource, sys\n"
        "from dialer.cli import main\n"
        "try:\n"
        "    main(['dnc', 'import', sys.argv[1]])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    env = {"DIALER_DATABASE_URL": env_url, "DIALER_LOG_LEVEL": "WARNING", "PATH": ""}
    subprocess.run(
        [sys.executable, "-m", "dialer", "init"], env=env, check=True, capture_output=True
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(upload)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    return float(done.stdout.strip().splitlines()[-1]), elapsed


def main() -> None:
    peaks = []
    with tempfile.TemporaryDirectory(prefix="dialer-bench-") as scratch:
        for size in SIZES:
            upload = Path(scratch) / f"upload-{size}.csv"
            write_upload(upload, size)
            peak, elapsed = peak_rss_mb(upload, Path(scratch) / f"dialer-{size}.db")
            upload.unlink()
            peaks.append(peak)
            print(
                f"memory: {size:,} rows uploaded in {elapsed:.1f}s "
                f"({size / elapsed:,.0f} rows/s), peak RSS {peak:.1f} MB",
                flush=True,
            )
    growth = peaks[-1] - peaks[0]
    verdict = "ok" if growth < TARGET_GROWTH_MB else "ABOVE TARGET"
    print(
        f"memory: peak RSS growth from {SIZES[0]:,} to {SIZES[-1]:,} rows: {growth:+.1f} MB "
        f"(target < {TARGET_GROWTH_MB} MB) {verdict}"
    )


if __name__ == "__main__":
    main()
