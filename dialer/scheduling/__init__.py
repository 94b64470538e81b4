"""Several engine nodes on one database: who is alive (`nodes`) and who paces which
campaign in each interval (`leases`). Coordination goes through tables only; APScheduler
stays the local timer."""

from dialer.scheduling import leases, nodes

__all__ = ["leases", "nodes"]
