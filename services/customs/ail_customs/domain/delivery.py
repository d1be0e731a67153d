"""Delivery of a license to Customs: outcomes and the automatic re-send schedule. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ail_shared.vocabulary import CustomsStatus

Result = Literal["stored", "store_failed", "send_failed"]

CUSTOMS_STATUS_LABEL: dict[str | None, str] = {
    None: "-",
    CustomsStatus.NOT_ARRIVED.value: "暂未到达海关",
    CustomsStatus.STORED.value: "海关入库成功",
    CustomsStatus.STORE_FAILED.value: "海关入库失败",
    CustomsStatus.SEND_FAILED.value: "发往海关失败",
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


def auto_resend_delay(failed_rounds: int, *, base_seconds: float, max_rounds: int) -> float | None:
    """Seconds until the next automatic re-send after ``failed_rounds`` failed rounds, doubling
    each time (base, 2*base, 4*base ...); None once ``max_rounds`` rounds have failed: then only the
    operator's re-send (POST /api/v1/licenses/{license_no}/resend) sends it again."""
    if failed_rounds >= max_rounds:
        return None
    return float(base_seconds * 2 ** (failed_rounds - 1))
