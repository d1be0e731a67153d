"""What the tests set of the MOFCOM sandbox's behaviour: the global ``Control`` and scopes.

``POST /control`` changes MOFCOM for everyone: a test that does it must run alone (the serial
phase of ``./dev test``). A scope (``POST /control/scopes``) changes it only for the submissions
that match it (by ``application_id``, ``enterprise_code``, ``idempotency_key``, ``form_no`` or a
top-level field of the signed snapshot or of the request body, e.g. ``serial_no``,
``contract_no``, ``remarks``): for those requests, their reviews and their callbacks the scope's
fields win over the global control; the fields it leaves out are the global control's. Tests that
change MOFCOM only for their own applications can so run beside the others. Pure: no I/O.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# A scope names what it matches in at most this many fields, and the sandbox holds at most this
# many scopes (a test run that crashed before deleting its own must not grow it without bound).
MAX_MATCH_FIELDS = 8
MAX_SCOPES = 1000


class Faults(BaseModel):
    error_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 500")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of requests that hang")
    hang_seconds: float = Field(8.0, ge=0, description="how long a hanging request hangs (then 504)")
    process_before_timeout: bool = Field(
        True, description="a hanging submission is taken in before hanging (the caller never hears)"
    )
    slow_ms: int = Field(0, ge=0, description="delay added to every faulted-path request")
    paths: list[str] = Field(default_factory=lambda: ["/mofcom/submissions"])
    duplicate_rate: float = Field(0.0, ge=0, le=1, description="share of results delivered twice")
    out_of_order: bool = Field(False, description="deliver the second review's result before the first's")


class Control(BaseModel):
    faults: Faults = Field(default_factory=Faults)
    first_delay: float = 3.0
    second_delay: float = 3.0
    contract_totals_rule: Literal["cover", "equal", "off"] = Field(
        "cover",
        description="cover: the rule (ail_shared.formrules, goods not above the contract);"
        " fault modes: equal (a stricter MOFCOM), off",
    )
    first_reject_rate: float = 0.0
    second_reject_rate: float = 0.0
    non_electronic: list[str] = Field(default_factory=list)
    callback_url: str = ""
    seed: int | None = None


def merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``change`` over ``base`` (both partial control dicts): top-level fields replaced, the
    ``faults`` merged field by field (how ``POST /control`` has always updated)."""
    out = {**base, **{k: v for k, v in change.items() if k != "faults"}}
    if "faults" in change or "faults" in base:
        faults = change.get("faults", {})
        if not isinstance(faults, Mapping):
            out["faults"] = faults  # not a dict: Control.model_validate names the field
        else:
            out["faults"] = {**base.get("faults", {}), **faults}
    return out


def overlay(control: Control, change: Mapping[str, Any]) -> Control:
    """The control ``change`` (a partial dict) makes of ``control``; raises pydantic's
    ValidationError naming the field for a bad value or an unknown name."""
    known = set(Control.model_fields) | {"faults"}
    unknown = sorted(set(change) - known)
    faults = change.get("faults")
    if isinstance(faults, Mapping):
        unknown += sorted(f"faults.{k}" for k in set(faults) - set(Faults.model_fields))
    if unknown:
        raise ValueError(f"unknown control fields: {', '.join(unknown)}")
    return Control.model_validate(merged(control.model_dump(), change))


class ScopeIn(BaseModel):
    match: dict[str, str] = Field(
        min_length=1,
        max_length=MAX_MATCH_FIELDS,
        description="every field must equal the request's (application_id, enterprise_code, serial_no, ...)",
    )
    control: dict[str, Any] = Field(default_factory=dict, description="the fields of Control that differ")


class Scope:
    def __init__(self, match: dict[str, str], control: dict[str, Any]) -> None:
        self.id = str(uuid.uuid4())
        self.match = match
        self.control = control
        self.created_at = datetime.now(UTC)
        self.hits = 0
        # A scope with a seed has its own random numbers: the global rng is the other tests'.
        self.rng: random.Random | None = None
        self._seed()

    def _seed(self) -> None:
        seed = self.control.get("seed")
        self.rng = random.Random(seed) if seed is not None else None

    def change(self, control: dict[str, Any]) -> None:
        self.control = merged(self.control, control)
        self._seed()

    def matches(self, facts: Mapping[str, str]) -> bool:
        return all(facts.get(k) == v for k, v in self.match.items())

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": self.match,
            "control": self.control,
            "created_at": self.created_at.isoformat(),
            "hits": self.hits,
        }


class Scopes:
    """The scopes in force, the newest first to match."""

    def __init__(self) -> None:
        self.by_id: dict[str, Scope] = {}

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def add(self, scope: Scope) -> None:
        self.by_id[scope.id] = scope

    def remove(self, scope_id: str) -> Scope | None:
        return self.by_id.pop(scope_id, None)

    def find(self, facts: Mapping[str, str]) -> Scope | None:
        if not facts:
            return None
        for scope in reversed(self.by_id.values()):
            if scope.matches(facts):
                return scope
        return None

    def control_for(self, control: Control, facts: Mapping[str, str]) -> tuple[Control, Scope | None]:
        """The control in force for a request with these facts: the newest matching scope's
        fields over the global ``control`` (validated when the scope was set)."""
        scope = self.find(facts)
        if scope is None:
            return control, None
        scope.hits += 1
        return Control.model_validate(merged(control.model_dump(), scope.control)), scope


def facts_of(*sources: Mapping[str, Any] | None, **named: str | None) -> dict[str, str]:
    """What a scope may match in a request: the top-level scalar fields of each source (the
    request body, the signed snapshot), then the ``named`` ones (they win)."""
    facts: dict[str, str] = {}
    for source in sources:
        for k, v in (source or {}).items():
            if isinstance(v, bool):
                facts[str(k)] = "true" if v else "false"
            elif isinstance(v, str | int | float):
                facts[str(k)] = str(v)
    facts.update({k: v for k, v in named.items() if v})
    return facts
