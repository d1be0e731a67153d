"""Words every service uses the same way (DOMAIN.md sections 3 and 4)."""

from __future__ import annotations

from enum import StrEnum

# The application's statuses and their order are in ail_shared.lifecycle, with the rules that use them.


class CustomsStatus(StrEnum):
    NOT_ARRIVED = "not_arrived"
    STORED = "stored"
    STORE_FAILED = "store_failed"
    SEND_FAILED = "send_failed"
