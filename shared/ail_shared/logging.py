"""Structured logging: one JSON object a line, with the current trace and span ids.

Our own lines come from structlog; the libraries' (uvicorn, httpx, aiokafka, faust, asyncpg, any
stdlib logger) go through the root handler, whose ``structlog.stdlib.ProcessorFormatter`` renders
them with the same processors, so every line of a service's log is JSON (issue 14, item 5).
Library lines carry ``logger`` (the stdlib logger's name).

Levels: ``level`` for our lines and the libraries'; aiokafka and kafka say too much at INFO
(every group rebalance step) and stay at WARNING. httpx logs every request at INFO
(``HTTP Request: GET ... "200 OK"``): a poll loop (the customs feed, twice a second) would fill
the log, so those lines are DEBUG (``_DemoteRequestLines``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

# Library loggers kept at WARNING whatever the level (their INFO is protocol chatter).
QUIET_LOGGERS = ("aiokafka", "kafka", "uvicorn.access")
# Library loggers whose INFO lines are per-request chatter, shown at DEBUG.
REQUEST_LOGGERS = ("httpx", "httpcore")


def _add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


class _DemoteRequestLines(logging.Filter):
    """httpx's per-request INFO lines become DEBUG lines (dropped below ``threshold``)."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.split(".")[0] in REQUEST_LOGGERS:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.threshold


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]


def stdlib_handler(level: int) -> logging.Handler:
    """The root handler: stdlib records as JSON lines on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    handler.addFilter(_DemoteRequestLines(level))
    return handler


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(stdlib_handler(numeric))
    root.setLevel(numeric)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "faust", "mode"):
        # Their own handlers (uvicorn's default config, faust's worker) would print plain text.
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
