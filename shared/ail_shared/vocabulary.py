"""Words every service uses the same way (DOMAIN.md sections 3 and 4)."""

from __future__ import annotations

from enum import StrEnum

# The application's statuses and their order live with the lifecycle rules (one home).


class CustomsStatus(StrEnum):
    NOT_ARRIVED = "not_arrived"
    STORED = "stored"
    STORE_FAILED = "store_failed"
    SEND_FAILED = "send_failed"
