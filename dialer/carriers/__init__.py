"""Voice and SMS carriers: the port every carrier implements, and the Twilio-compatible adapter.

The simulated carrier is imported from its module, `dialer.carriers.simulator`, which also
runs standalone (`python -m dialer.carriers.simulator`).
"""

from dialer.carriers.abc import (
    FINAL_RANK,
    RESULT_OF,
    STATUS_RANK,
    BadCallback,
    Carrier,
    CarrierError,
    CarrierEvent,
    Kind,
    Placement,
    Result,
    advances,
    is_machine,
)
from dialer.carriers.twilio import TwilioCarrier, compute_signature

__all__ = [
    "FINAL_RANK",
    "RESULT_OF",
    "STATUS_RANK",
    "BadCallback",
    "Carrier",
    "CarrierError",
    "CarrierEvent",
    "Kind",
    "Placement",
    "Result",
    "TwilioCarrier",
    "advances",
    "compute_signature",
    "is_machine",
]
