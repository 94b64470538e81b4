"""Several engine nodes on one database: who is alive (`nodes`). Coordination goes through
tables only; APScheduler stays the local timer."""

from dialer.scheduling import nodes

__all__ = ["nodes"]
