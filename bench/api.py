"""The DNC API against the same work done without it, on SQLite, measured in one run:

- `POST /dnc/check` with 1,000 numbers (half of them listed, in a mix of formats) against a
  list of 100,000 entries: numbers per second through `dialer serve` on 127.0.0.1 (a
  client in this process, one request at a time), against `services.dnc.check_numbers` in
  process on the same numbers. Target: >= 0.5x.
- a 1,000,000-row CSV (the upload benchmark's messy mix) through `POST /dnc/imports`
  against `dialer dnc import` of the same file, each into a fresh database: rows per second
  (target >= 0.8x) and the peak RSS of the server process against the CLI's (target: at
  most 50 MB more). Both are child processes and report their own peak (wait4's
  ru_maxrss); the CLI's time is its whole run, start-up included, as a user sees it.

Run: `python -m bench.api [ROWS]` (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import compare
from bench.upload import write_upload
from compliance import Channel
from dialer.app import open_app
from dialer.services import Caller
from dialer.services import dnc as service
from dialer.settings import Settings

CHECK_TARGET = 0.5
IMPORT_TARGET = 0.8
RSS_TARGET_MB = 50
LISTED = 100_000
BATCH = 1_000
ROUNDS = 30
USER = "bench"


def _env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DIALER_HOME": str(folder),
        "DIALER_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'dialer.db'}",
        "DIALER_LOG_LEVEL": "WARNING",
    }


def dialer(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dialer", *args], env=env, check=True, capture_output=True
    )
    return done.stdout.decode()


def fresh_database(folder: Path) -> tuple[dict[str, str], str]:
    """A new database in `folder` with an admin; its environment and the admin's token."""
    folder.mkdir()
    env = _env(folder)
    dialer(env, "init")
    dialer(env, "users", "add", USER, "--role", "admin")
    return env, dialer(env, "tokens", "create", "--user", USER).strip()


def listed_numbers(count: int) -> list[str]:
    return [f"+1212{200 + index // 10_000}{index % 10_000:04d}" for index in range(count)]


def check_batch() -> list[str]:
    """Half listed (spread over the list), half not, written as people write them."""
    step = LISTED // (BATCH // 2)
    listed = [
        f"(212) {200 + index // 10_000}-{index % 10_000:04d}" for index in range(0, LISTED, step)
    ]
    unlisted = [f"305.555.{index:04d}" for index in range(BATCH // 2)]
    return [number for pair in zip(listed, unlisted, strict=True) for number in pair]


class Server:
    """`dialer serve` on a free port of 127.0.0.1, as a child process."""

    def __init__(self, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api/v1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dialer", "serve"],
            env={**env, "DIALER_WEBHOOK_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            # While an import holds SQLite's write lock its own jobs wait, and say so.
            stderr=subprocess.DEVNULL,
        )

    async def up(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        raise RuntimeError("dialer serve did not answer within 30 s")

    def stop(self) -> float:
        """Stop it; its peak RSS in MB."""
        self.process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss / 1024


async def check_through_api(url: str, token: str, numbers: list[str]) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{url}/dnc/check", json={"numbers": numbers}) as warm:
            answers = (await warm.json())["data"]
            assert sum(answer["blocked"] for answer in answers) == len(numbers) // 2
        started = time.perf_counter()
        for _ in range(ROUNDS):
            async with session.post(f"{url}/dnc/check", json={"numbers": numbers}) as response:
                assert response.status == 200
                await response.read()
        return time.perf_counter() - started


async def check_in_process(database_url: str, numbers: list[str]) -> float:
    async with open_app(Settings(database_url=database_url, log_level="WARNING")) as app:
        caller = Caller(user=USER)
        await service.check_numbers(app, caller, numbers, Channel.VOICE)
        started = time.perf_counter()
        for _ in range(ROUNDS):
            await service.check_numbers(app, caller, numbers, Channel.VOICE)
        return time.perf_counter() - started


def bench_check(scratch: Path) -> None:
    env, token = fresh_database(scratch / "check")
    listed = scratch / "listed.csv"
    listed.write_text("phone\n" + "\n".join(listed_numbers(LISTED)) + "\n")
    dialer(env, "dnc", "import", str(listed))
    numbers = check_batch()

    async def through_api() -> float:
        server = Server(env)
        try:
            async with aiohttp.ClientSession() as session:
                await server.up(session)
            return await check_through_api(server.url, token, numbers)
        finally:
            server.stop()

    ours = asyncio.run(through_api())
    baseline = asyncio.run(check_in_process(env["DIALER_DATABASE_URL"], numbers))
    checked = ROUNDS * len(numbers)
    compare(
        f"POST /dnc/check ({len(numbers):,} numbers a request, {LISTED:,} listed)",
        checked / ours,
        checked / baseline,
        "services.dnc.check_numbers in process",
        CHECK_TARGET,
        "numbers",
    )


async def upload(url: str, token: str, path: Path) -> tuple[float, dict]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        with path.open("rb") as file:
            form = aiohttp.FormData()
            form.add_field("file", file, filename=path.name, content_type="text/csv")
            started = time.perf_counter()
            async with session.post(f"{url}/dnc/imports", data=form) as response:
                summary = await response.json()
                assert response.status == 200, summary
            return time.perf_counter() - started, summary


def import_with_cli(env: dict[str, str], path: Path) -> tuple[float, float]:
    """`dialer dnc import FILE --json` as a child; its time and peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dialer", "dnc", "import", str(path), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, "dialer dnc import failed"
    return elapsed, usage.ru_maxrss / 1024


def bench_import(scratch: Path, rows: int) -> None:
    path = scratch / "upload.csv"
    write_upload(path, rows)
    env, token = fresh_database(scratch / "api")

    async def through_api() -> tuple[float, dict, float]:
        server = Server(env)
        try:
            async with aiohttp.ClientSession() as session:
                await server.up(session)
            elapsed, summary = await upload(server.url, token, path)
        finally:
            peak = server.stop()
        return elapsed, summary, peak

    ours, summary, server_peak = asyncio.run(through_api())
    cli_env, _ = fresh_database(scratch / "cli")
    started = time.perf_counter()
    dialer(cli_env, "--help")
    start_up = time.perf_counter() - started
    baseline, cli_peak = import_with_cli(cli_env, path)
    compare(
        f"POST /dnc/imports ({summary['read']:,} rows in {ours:.2f}s)",
        summary["read"] / ours,
        summary["read"] / baseline,
        f"dialer dnc import (its start-up {start_up:.2f}s included)",
        IMPORT_TARGET,
        "rows",
    )
    growth = server_peak - cli_peak
    verdict = "ok" if growth <= RSS_TARGET_MB else "BELOW TARGET"
    print(
        f"POST /dnc/imports peak RSS: server {server_peak:,.0f} MB; dialer dnc import "
        f"{cli_peak:,.0f} MB; {growth:+,.0f} MB (target <= +{RSS_TARGET_MB} MB) {verdict}",
        flush=True,
    )


def main(rows: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory(prefix="dialer-bench-api-") as scratch:
        bench_check(Path(scratch))
        bench_import(Path(scratch), rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
