"""Operations: the dead-letter topics, behind the entry point (``/api/v1/ops/dead-letters``),
for the operations API key only (403 for any other key, 401 without one)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ail_shared.http import CurrentTenant, Pool, RuntimeDep
from ail_shared.openapi import errors
from ail_shared.ops import Reason, operations_actor
from ail_status.adapters.dead_letters import DeadLetterStore
from ail_status.service_layer import dead_letters

router = APIRouter(prefix="/api/v1/ops/dead-letters", tags=["operations"])
MAX_PER_PARTITION = 500
REFUSED = "dead letters are"


class Message(BaseModel):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    reason: str = Field(description="the dlt-reason header: why the consumer could not apply it")
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    consumer: str | None
    headers: dict[str, str]
    value_base64: str = Field(description="the original bytes")
    value_text: str | None = Field(description="the original bytes as UTF-8, when they are")
    state: Literal["open", "redriven", "skipped"]
    actions: list[dict[str, Any]] = Field(description="what operations did: action, reason, actor, at")


class TopicLetters(BaseModel):
    topic: str
    source_topic: str
    messages: list[Message]


class DeadLetterList(BaseModel):
    items: list[TopicLetters]


class Action(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"topic": "ail.application.dlt", "partition": 0, "offset": 12, "reason": "fixed in 1.4.2"}
            ]
        }
    )
    topic: str = Field(
        min_length=1, max_length=200, description="the dead-letter topic, e.g. ail.application.dlt"
    )
    partition: int = Field(ge=0, le=10_000)
    offset: int = Field(ge=0)
    reason: Reason


class RedriveByReason(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"topic": "ail.application.dlt", "reason_prefix": "unknown_event", "reason": "fixed in 1.4.2"}
            ]
        }
    )
    topic: str = Field(min_length=1, max_length=200)
    reason_prefix: str = Field(
        min_length=1, max_length=500, description="redrive open messages whose reason starts so"
    )
    reason: Reason


class Redriven(BaseModel):
    items: list[Message]


def _store(rt: RuntimeDep) -> DeadLetterStore:
    return DeadLetterStore(rt.settings.kafka_bootstrap)


@router.get(
    "",
    summary="The dead-letter topics with their messages, reasons and original bytes",
    response_model=DeadLetterList,
    responses=errors(403),
)
async def list_dead_letters(
    pool: Pool,
    tenant: CurrentTenant,
    rt: RuntimeDep,
    topic: Annotated[str | None, Query(max_length=200, description="one dead-letter topic only")] = None,
    state: Annotated[Literal["open", "redriven", "skipped"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PER_PARTITION, description="last N per partition")] = 100,
) -> Any:
    operations_actor(tenant, refused=REFUSED)
    items = await dead_letters.list_dead_letters(pool, _store(rt), topic=topic, state=state, limit=limit)
    return {"items": items}


@router.post(
    "/redrive",
    summary="Send one dead letter back to its original topic (safe to repeat: the inbox dedups)",
    response_model=Message,
    responses=errors(403, 404, e404="no message at that topic, partition and offset: list them with GET"),
)
async def redrive_dead_letter(body: Action, pool: Pool, tenant: CurrentTenant, rt: RuntimeDep) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    return await dead_letters.redrive(
        pool,
        _store(rt),
        topic=body.topic,
        partition=body.partition,
        offset=body.offset,
        reason=body.reason,
        actor=actor,
    )


@router.post(
    "/redrive-by-reason",
    summary="Send every open dead letter of a topic whose reason starts with a prefix back to its topic",
    response_model=Redriven,
    responses=errors(403),
)
async def redrive_dead_letters_by_reason(
    body: RedriveByReason, pool: Pool, tenant: CurrentTenant, rt: RuntimeDep
) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    items = await dead_letters.redrive_reason(
        pool,
        _store(rt),
        topic=body.topic,
        match=body.reason_prefix,
        reason=body.reason,
        actor=actor,
        limit=MAX_PER_PARTITION,
    )
    return {"items": items}


@router.post(
    "/skip",
    summary="Mark one dead letter as skipped, with the reason (it is not applied)",
    response_model=Message,
    responses=errors(403, 404, e404="no message at that topic, partition and offset: list them with GET"),
)
async def skip_dead_letter(body: Action, pool: Pool, tenant: CurrentTenant, rt: RuntimeDep) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    return await dead_letters.skip(
        pool,
        _store(rt),
        topic=body.topic,
        partition=body.partition,
        offset=body.offset,
        reason=body.reason,
        actor=actor,
    )
