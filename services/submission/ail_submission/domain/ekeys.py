"""Where to send a signature request, or why to wait, or why to give up (issue 10, item 3).

Heartbeats (``EkeyHeartbeat``) tell which signer host holds which e-key; each announcement lives
``ttl_seconds`` (15 s). An announcement that has lapsed says nothing about the key: the signer
may be restarting, or Kafka may be down, or our heartbeat consumer may be behind the submission
consumer after an outage. So a lapsed announcement only makes a submission *wait* (visibly) and
it goes on by itself when the key is announced again. It fails fast only when

* a signer host has said the key is absent (its latest heartbeat no longer lists a key it held,
  and no host has announced the key since), or
* no host has announced the key for the grace period (``AIL_EKEY_GRACE_MINUTES``, 10 minutes),
  counted from the last announcement, or from the start of the wait for a key never announced.

(A signer host that is asked for a key it does not hold answers ``SigningFailed(ekey_not_present)``
itself; that explicit answer fails fast too, in ``handlers.on_signing_failed``.)

Pure: the clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WAITING_FOR_EKEY = "waiting_for_ekey"


@dataclass(frozen=True)
class Sighting:
    """What one signer host last said about one e-key."""

    host_id: str
    last_seen: datetime  # the heartbeat that last listed the key
    ttl_seconds: float
    absent_at: datetime | None = None  # a later heartbeat of the same host no longer listed it

    def fresh(self, now: datetime) -> bool:
        return self.absent_at is None and self.last_seen + timedelta(seconds=self.ttl_seconds) > now


@dataclass(frozen=True)
class Route:
    host_id: str


@dataclass(frozen=True)
class Wait:
    give_up_at: datetime
    detail: str


@dataclass(frozen=True)
class Absent:
    detail: str


Decision = Route | Wait | Absent


def waiting_reason(serial: str) -> str:
    """What the application shows while it waits (its ``status_reason``)."""
    return f"waiting for e-key {serial} on a signer host"


def decide(
    serial: str,
    sightings: list[Sighting],
    *,
    now: datetime,
    waiting_since: datetime,
    grace: timedelta,
) -> Decision:
    fresh = [s for s in sightings if s.fresh(now)]
    if fresh:
        return Route(max(fresh, key=lambda s: s.last_seen).host_id)
    last_seen = max((s.last_seen for s in sightings), default=None)
    said_absent = [
        s for s in sightings if s.absent_at is not None and s.absent_at >= (last_seen or s.absent_at)
    ]
    if said_absent:
        host = max(said_absent, key=lambda s: s.absent_at or s.last_seen)
        return Absent(
            f"signer host {host.host_id} reported e-key {serial} removed at "
            f"{(host.absent_at or host.last_seen).isoformat()}: plug it in and submit again"
        )
    since = last_seen if last_seen is not None else waiting_since
    give_up_at = since + grace
    minutes = f"{grace.total_seconds() / 60:g}"
    if now >= give_up_at:
        what = f"since {last_seen.isoformat()}" if last_seen is not None else "at all"
        return Absent(
            f"no signer host has announced e-key {serial} {what} (waited {minutes} minutes): "
            "plug it in and submit again"
        )
    last = f"last announced {last_seen.isoformat()}" if last_seen is not None else "not announced yet"
    return Wait(
        give_up_at,
        f"{waiting_reason(serial)} ({last}; gives up at {give_up_at.isoformat()} after {minutes} minutes)",
    )


@dataclass(frozen=True)
class PresentKey:
    """An e-key a signer host announces right now (from its heartbeats)."""

    serial: str
    host_id: str
    subject: str
    label: str
    algorithm: str
    certificate_pem: str
    enterprise_codes: tuple[str, ...]
    last_seen: datetime


@dataclass(frozen=True)
class Binding:
    """The e-key an enterprise signs its submissions with."""

    enterprise_code: str
    ekey_serial: str
    subject: str
    certificate_pem: str
    bound_at: datetime
    bound_by: str


@dataclass(frozen=True)
class Unbinding:
    """A binding the enterprise withdrew (DELETE /api/v1/ekey-bindings/{serial}), as recorded."""

    enterprise_code: str
    ekey_serial: str
    subject: str
    bound_at: datetime
    bound_by: str
    unbound_at: datetime
    unbound_by: str


def reroute(
    serial: str,
    sightings: list[Sighting],
    *,
    now: datetime,
    current_host: str | None,
    requested_at: datetime,
    grace: timedelta,
) -> Route | Absent | None:
    """A signature request whose host stopped announcing the key: another host announces it now
    (send it there: the first host, should it come back, answers a request already signed, and
    that late answer is ignored), or the key is gone by the rule of ``decide`` (fail it), or
    None: the request stays in Kafka and its host answers it when it is back."""
    fresh = [s for s in sightings if s.fresh(now) and s.host_id != current_host]
    if fresh:
        return Route(max(fresh, key=lambda s: s.last_seen).host_id)
    decision = decide(serial, sightings, now=now, waiting_since=requested_at, grace=grace)
    return decision if isinstance(decision, Absent) else None
