"""What the dispatcher tells an observer (metrics) of the work it does.

Each call reports a batch after its transaction committed (a transaction tried again is
reported once), so an observer costs O(1) per batch and label set, not per lead. The
default observer does nothing; `dialer.metrics` implements the protocol with Prometheus,
so dispatch never imports prometheus_client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from campaigns import CallStatus, Campaign
from compliance import Channel, Company, DncList, Source

__all__ = ["NO_OBSERVER", "Additions", "NoObserver", "Observer"]

# Company-list entries added, by (list, source).
Additions = Mapping[tuple[DncList, Source], int]


class Observer(Protocol):
    def attempts_placed(self, company: Company, campaign: Campaign, count: int) -> None:
        """`count` attempts the carrier took."""

    def attempts_ended(
        self, company: Company, campaign: Campaign, statuses: Iterable[CallStatus]
    ) -> None:
        """Attempts ended here, with the call status each ended in."""

    def skipped(self, company: Company, campaign: Campaign, reasons: Mapping[str, int]) -> None:
        """Leads the gate refused, by the code of their first reason."""

    def carrier_errors(
        self, company: Company, campaign: Campaign, kinds: Mapping[str, int]
    ) -> None:
        """Create requests the carrier failed, by what became of the call (`Placement`)."""

    def listed(self, company: Company, additions: Additions) -> None:
        """Numbers newly put on the company's DNC or DNT list."""

    def opted_out(self, company: Company, channel: Channel, count: int) -> None:
        """Contacts who asked to hear no more: a keypress, a STOP text, a carrier refusal."""

    def callbacks_stored(self, count: int) -> None:
        """Carrier callbacks stored for the first time (repeats are not counted)."""

    def callback_lag(self, seconds: Iterable[float]) -> None:
        """For callbacks whose carrier says when their event happened: event to commit."""

    def tick_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        """One tick of a campaign: claim, screen and commit its intents."""

    def screening_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        """One batch of claimed leads through the compliance gate."""


class NoObserver:
    """Observes nothing: the dispatcher of a forecast, a `campaign run`, a test."""

    def attempts_placed(self, company: Company, campaign: Campaign, count: int) -> None:
        pass

    def attempts_ended(
        self, company: Company, campaign: Campaign, statuses: Iterable[CallStatus]
    ) -> None:
        pass

    def skipped(self, company: Company, campaign: Campaign, reasons: Mapping[str, int]) -> None:
        pass

    def carrier_errors(
        self, company: Company, campaign: Campaign, kinds: Mapping[str, int]
    ) -> None:
        pass

    def listed(self, company: Company, additions: Additions) -> None:
        pass

    def opted_out(self, company: Company, channel: Channel, count: int) -> None:
        pass

    def callbacks_stored(self, count: int) -> None:
        pass

    def callback_lag(self, seconds: Iterable[float]) -> None:
        pass

    def tick_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        pass

    def screening_seconds(self, company: Company, campaign: Campaign, seconds: float) -> None:
        pass


NO_OBSERVER = NoObserver()
