"""Time for the dispatcher: the wall clock, or a simulated one that jumps over waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` pass (pacing requests, waiting for due leads)."""


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


@dataclass(slots=True)
class SimClock:
    """Simulated time: it stands still while work is done and jumps over waits."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        """Requests paced within a tick go out at once: simulated time stands still."""

    def advance_to(self, moment: datetime) -> None:
        self.current = max(self.current, moment)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
