"""What the operations routes share (issue 14, item 6): the operations-role check, the reason an
operator gives for an action, and the action record shown with parked work.

Every operations action (a dead letter redriven or skipped, a MOFCOM send or a Customs delivery
resent or closed) is for the operations API key only (403 for any other key, 401 without one;
``operations_actor``) and is recorded with who did it, when and why: ``actor`` is the key's
principal (``operations:<key id>``), ``reason`` what the operator wrote (``Reason``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ail_shared.auth import Tenant
from ail_shared.errors import Forbidden

# Where parked work stands in an operations queue (MOFCOM sends, Customs deliveries).
OpsState = Literal["queued", "retrying", "parked", "closed"]

# The operator's reason for an action: recorded with who and when, and shown with the work.
Reason = Annotated[str, Field(min_length=3, max_length=1000, description="why (recorded with who and when)")]


def operations_actor(tenant: Tenant, *, refused: str) -> str:
    """The operator acting (``actor`` of the record), or 403 for any key but the operations one.
    ``refused`` names what is refused, e.g. "the MOFCOM send queue is"."""
    if tenant.principal.kind != "operations":
        raise Forbidden(f"{refused} for operations staff: use the operations API key")
    return tenant.principal.id


# What operations did with a piece of parked work: resent or closed it, who, when, why. (No
# docstring on these models: it would become their description in the OpenAPI document.)
class OpsAction(BaseModel):
    action: Literal["resend", "close"]
    reason: str
    actor: str
    at: datetime


# The body of a resend or close: the operator's reason.
class Why(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "MOFCOM back since 10:05 (ticket OPS-1234)"}]}
    )
    reason: Reason


__all__ = ["OpsAction", "OpsState", "Reason", "Why", "operations_actor"]
