"""The keys that tell one attempt's story in the logs.

Every event about an attempt carries `node`, `company`, `campaign` (names), `attempt_id` and
`lead_id`; a skip, which has no attempt, all but `attempt_id`. So `jq 'select(.attempt_id ==
123)'` reads one call from its placing to its last status action, whichever node logged it.

They are structlog context variables, bound with the context manager form around one
attempt's own work: none leaks into the next attempt's events, in a batch or in a task
started meanwhile. The dispatcher binds `node` around each of its entry points (its id may
change: `Dispatcher.become`). A batch of skips passes its keys explicitly instead: it logs
thousands of events at once.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from structlog.contextvars import bound_contextvars

__all__ = ["about_attempt", "as_node"]


def about_attempt(
    company: str, campaign: str, attempt_id: int, lead_id: int | None
) -> AbstractContextManager[None]:
    """Within the block, every event carries this attempt's keys."""
    return bound_contextvars(
        company=company, campaign=campaign, attempt_id=attempt_id, lead_id=lead_id
    )


def as_node(node: str) -> AbstractContextManager[None]:
    """Within the block, every event carries the node's id."""
    return bound_contextvars(node=node)
