"""Benchmark: what the Prometheus observer costs the dispatcher, and what a scrape costs.

Run with `python -m bench.metrics`. A batch is one tick's worth of work of a campaign at 100
attempts a second: 100 placed, 100 ended in 4 statuses, 300 skips in 3 reasons, a tick and
a screening time, 100 callback lags. The observer is called once per batch and label set;
the figure is batches observed per second, against the 100 ticks a second of 100 running
campaigns: at the target ratio of 10, the observer takes at most a tenth of one core. The
scrape renders a registry holding 50 campaigns' series.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import compare
from campaigns import CallStatus, Campaign, CampaignState
from campaigns.definitions import parse_campaign
from compliance import Company
from dialer.app import App
from dialer.metrics import Metrics
from dialer.settings import Settings

BATCHES = 2_000
CAMPAIGNS = 50
STATUSES = [CallStatus(code, code, final=True) for code in ("ANSWERED", "NO_ANSWER", "BUSY")]
DEFINITION = {
    "name": "spring",
    "channel": "voice",
    "leads": "spring",
    "caller_id": "+13055550000",
    "attempts_per_second": 100,
    "max_concurrent": 200,
    "max_attempts": 3,
    "ivr_optout_digit": "9",
}


def campaign(number: int) -> Campaign:
    now = datetime.now(UTC)
    spec = parse_campaign({**DEFINITION, "name": f"campaign-{number}"})
    return Campaign(number, spec.name, CampaignState.RUNNING, spec, "", now, now)


def observe_batch(metrics: Metrics, company: Company, spring: Campaign) -> None:
    metrics.attempts_placed(company, spring, 100)
    metrics.attempts_ended(company, spring, [STATUSES[n % 3] for n in range(100)])
    metrics.skipped(
        company, spring, Counter(COMPANY_DNC=100, OUTSIDE_CALLING_HOURS=150, MAX_ATTEMPTS=50)
    )
    metrics.tick_seconds(company, spring, 0.012)
    metrics.screening_seconds(company, spring, 0.004)
    metrics.callback_lag([0.2] * 100)
    metrics.callbacks_stored(100)


def main() -> None:
    app = App(Settings(), create_async_engine("sqlite+aiosqlite://"))  # never queried here
    metrics = Metrics(app)
    company = Company(1, "acme", "US")
    campaigns = [campaign(n) for n in range(CAMPAIGNS)]
    start = time.perf_counter()
    for n in range(BATCHES):
        observe_batch(metrics, company, campaigns[n % CAMPAIGNS])
    per_second = BATCHES / (time.perf_counter() - start)
    compare("observer", per_second, 100.0, "ticks of 100 campaigns", 10.0, "batches")

    start = time.perf_counter()
    text = generate_latest(metrics.registry)
    seconds = time.perf_counter() - start
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"scrape: {series:,} samples, {len(text):,} bytes in {seconds * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
