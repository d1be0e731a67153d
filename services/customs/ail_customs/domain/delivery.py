"""Delivery of a license to Customs: outcomes and the automatic re-send schedule. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ail_shared.retry import backoff
from ail_shared.vocabulary import CustomsStatus

Result = Literal["stored", "store_failed", "send_failed"]

CUSTOMS_STATUS_LABEL: dict[str | None, str] = {
    None: "-",
    CustomsStatus.NOT_ARRIVED.value: "暂未到达海关",
    CustomsStatus.STORED.value: "海关入库成功",
    CustomsStatus.STORE_FAILED.value: "海关入库失败",
    CustomsStatus.SEND_FAILED.value: "发往海关失败",
}

RESULT_TEXT: dict[str, str] = {
    "stored": "Customs stored the license",
    "store_failed": "Customs failed to store the license",
    "send_failed": "the license could not be sent to Customs",
}


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one delivery round (the adapter's own bounded retries included) came to.

    ``stored``: Customs stored the license. ``store_failed``: Customs received it and refused to
    store it (its answer says why). ``send_failed``: it never got an answer (time-outs, connection
    errors, 5xx) after the adapter's retries."""

    result: Result
    detail: str = ""
    tries: int = 1
    receipt_no: str = ""


@dataclass(frozen=True)
class ResendPolicy:
    """Automatic re-send after a failed round: base, 2*base, 4*base ... (the shared backoff,
    ``ail_shared.retry.backoff``), at most ``max_rounds`` failed rounds; after that only the
    operator's re-send (POST /api/v1/licenses/{license_no}/resend) sends it again."""

    base_seconds: float = 5.0
    max_rounds: int = 5

    def delay_after(self, failed_rounds: int) -> float | None:
        """Seconds until the next automatic re-send after ``failed_rounds`` failed rounds."""
        if failed_rounds >= self.max_rounds:
            return None
        return backoff(failed_rounds, base=self.base_seconds, cap=math.inf)
