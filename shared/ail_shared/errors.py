"""Exception hierarchy of the shared library.

AilError
├── ConfigError            settings refused at start-up (placeholder secret outside development)
├── NotFound               an object does not exist *for this tenant* (HTTP 404)
├── Forbidden              authenticated but not allowed (HTTP 403)
├── Unauthenticated        no or bad API key (HTTP 401)
├── Conflict               the object's state forbids the operation (HTTP 409)
├── PreconditionFailed     If-Match names a version the object no longer has (HTTP 412)
├── InvalidInput           one or more fields are wrong; carries every problem at once (HTTP 422)
├── PayloadTooLarge        the request body is over the services' limit (HTTP 413)
└── EventError             a Kafka message cannot be applied; goes to the dead-letter topic
    ├── UndecodableEvent       not JSON, or not a valid envelope / payload
    └── UnsupportedSchemaVersion  a major version this consumer does not know
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One wrong field: a dotted path into the request (``goods.0.quantity``) and why; ``code``,
    when the rule has one, is a stable machine code (``ail_shared.formrules``), shown beside the
    reason in the error body."""

    field: str
    reason: str
    code: str | None = None


def distinct(problems: list[FieldProblem]) -> list[FieldProblem]:
    """One problem per field and reason, in the order first given (issue 13, item 4): rules
    that meet on one field (a read-only name that is also creation-only) say it once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.field, p.reason) not in seen:
            seen.add((p.field, p.reason))
            out.append(p)
    return out


class AilError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AilError):
    code = "config_error"


class NotFound(AilError):
    status_code = 404
    code = "not_found"


class Forbidden(AilError):
    status_code = 403
    code = "forbidden"


class Unauthenticated(AilError):
    status_code = 401
    code = "unauthenticated"


class Conflict(AilError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(AilError):
    status_code = 412
    code = "precondition_failed"


class InvalidInput(AilError):
    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = distinct(list(problems or []))


class PayloadTooLarge(AilError):
    status_code = 413
    code = "payload_too_large"


class EventError(AilError):
    code = "event_error"


class UndecodableEvent(EventError):
    code = "undecodable_event"


class UnsupportedSchemaVersion(EventError):
    code = "unsupported_schema_version"
