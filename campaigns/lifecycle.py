"""A campaign's states: draft -> running <-> paused -> completed | stopped.

`complete` is the engine's own action (no lead can be attempted any more), taken only while
running; `stop` is the manager's. Completed and stopped are final: a campaign is never reopened,
so its attempt history stays the record of one run.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CampaignAction", "CampaignState", "InvalidTransition", "transition"]


class CampaignState(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


class CampaignAction(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    COMPLETE = "complete"


class InvalidTransition(ValueError):
    """An action the campaign's current state does not allow; nothing was changed."""


_NEXT: dict[CampaignState, dict[CampaignAction, CampaignState]] = {
    CampaignState.DRAFT: {CampaignAction.START: CampaignState.RUNNING},
    CampaignState.RUNNING: {
        CampaignAction.PAUSE: CampaignState.PAUSED,
        CampaignAction.STOP: CampaignState.STOPPED,
        CampaignAction.COMPLETE: CampaignState.COMPLETED,
    },
    CampaignState.PAUSED: {
        CampaignAction.RESUME: CampaignState.RUNNING,
        CampaignAction.STOP: CampaignState.STOPPED,
    },
    CampaignState.COMPLETED: {},
    CampaignState.STOPPED: {},
}


def transition(current: CampaignState | str, action: CampaignAction | str) -> CampaignState:
    """The state after `action`, or InvalidTransition saying why not ('cannot pause a completed
    campaign'). Plain strings are accepted; unknown ones raise ValueError."""
    state, step = CampaignState(current), _action(action)
    allowed = _NEXT[state]
    if step in allowed:
        return allowed[step]
    if not allowed:
        raise InvalidTransition(f"cannot {step} a {state} campaign: it is over")
    *others, last = allowed
    choices = f"{', '.join(others)} or {last}" if others else last
    raise InvalidTransition(f"cannot {step} a {state} campaign; it can only {choices}")


def _action(action: CampaignAction | str) -> CampaignAction:
    try:
        return CampaignAction(action)
    except ValueError:
        choices = ", ".join(CampaignAction)
        raise ValueError(f"unknown campaign action {action!r}; choose from {choices}") from None
