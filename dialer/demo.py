"""`make demo`: the DNC registry end to end on a fresh SQLite file, through the real CLI.

Each step prints the command it runs, then what the command printed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

DEMO_DIR = Path("var/demo")

# A campaign manager's list as it really arrives: header, mixed formats, Excel artefacts,
# duplicates, a blank row and some junk.
SAMPLE_UPLOAD = """Phone,Name,Notes
(305) 555-0134,Ann Lee,asked twice
305.555.0135,Bob Ray,
+1 305 555 0136,Cy Dot,

1-305-555-0134,Ann Lee,duplicate in another format
001 212 555 0100,Di Fox,international prefix
3055550137.0,Ed Ng,Excel float
２１２５５５０１０１,Fi Wu,full-width digits
(212) 555-0102 ext. 44,Gus Ho,extension
3.05555E+09,Hal,scientific notation
555-0134,Ivy,too short
(105) 555-0134,Jo,impossible area code
n/a,Kim,
"""


def dialer(*args: str, env: dict[str, str]) -> int:
    """Run one `dialer` command as a user would, echoing it first."""
    print(f"\n$ dialer {shlex.join(args)}", flush=True)
    completed = subprocess.run([sys.executable, "-m", "dialer", *args], env=env, check=False)
    if completed.returncode:
        print(f"(exit code {completed.returncode})", flush=True)
    return completed.returncode


def main() -> None:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    database = DEMO_DIR / "dialer.db"
    for stale in DEMO_DIR.glob("dialer.db*"):
        stale.unlink()
    upload = DEMO_DIR / "dnc-upload.csv"
    upload.write_text(SAMPLE_UPLOAD, encoding="utf-8")
    env = {
        **os.environ,
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DIALER_LOG_FORMAT": "console",
    }

    steps = [
        ("init",),
        ("users", "add", "ana", "--role", "manager"),
        ("users", "add", "rita", "--role", "admin"),
        ("dnc", "import", str(upload), "--by", "ana", "--reason", "spring opt-out list"),
        ("dnc", "add", "(786) 555-0199", "--list", "dnt", "--reason", "texted STOP", "--by", "ana"),
        ("dnc", "check", "+13055550134", "212.555.0100", "786-555-0199", "(999) 555-0100"),
        ("dnc", "check", "786-555-0199", "--channel", "sms", "--json"),
        ("check", "(305) 555-0140", "--at", "2026-03-10T20:30-04:00"),
        ("check", "+1 208 555 0100", "--at", "2026-03-09T14:30Z", "--json"),
        ("check", "305-555-0134", "--channel", "sms", "--at", "2026-03-10T12:00-04:00"),
        ("dnc", "remove", "305-555-0135", "--by", "ana", "--reason", "customer called back"),
        ("dnc", "remove", "305-555-0135", "--by", "rita", "--reason", ""),
        ("dnc", "remove", "305-555-0135", "--by", "rita", "--reason", "consent on file #812"),
        ("dnc", "log"),
        ("dnc", "export", "--output", str(DEMO_DIR / "dnc-export.csv")),
    ]
    expected_refusals = {10, 11}
    for index, step in enumerate(steps):
        code = dialer(*step, env=env)
        if code and index not in expected_refusals:
            sys.exit(f"demo step failed: dialer {shlex.join(step)}")
    print(f"\nDatabase: {database}   Export: {DEMO_DIR / 'dnc-export.csv'}")


if __name__ == "__main__":
    main()
