"""Constants and small helpers shared by the tests."""

from datetime import UTC, datetime

# A fixed instant for storage tests: Tue 2026-03-10 15:00 UTC (11:00 in New York).
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
