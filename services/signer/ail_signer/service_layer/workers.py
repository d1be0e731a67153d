"""The background worker of a signer host, on the shared worker helper
(``ail_shared.workers.Worker``): the key watch re-scans the tokens every ``rescan_seconds`` (or at
once when signing found a token gone), and announces the keys every ``heartbeat_seconds`` and at
once when they change. A token or database outage is logged and retried with the helper's
backoff; it never ends the worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ail_shared.events import utcnow
from ail_shared.workers import Worker
from ail_signer.domain.commands import AnnounceKeys
from ail_signer.service_layer.handlers import handle
from ail_signer.service_layer.host import SignerHost
from ail_signer.service_layer.unit_of_work import SignerUnitOfWork


@dataclass
class KeyWatch:
    host: SignerHost
    uow: Callable[[], SignerUnitOfWork]
    heartbeat_seconds: float
    clock: Callable[[], float] = time.monotonic
    last_beat: float | None = None
    announce_now: bool = True  # the keys found at start-up

    async def step(self) -> float | None:
        if self.host.keys_changed:
            self.host.keys_changed = False
            self.announce_now = True
        if await self.host.rescan():
            self.announce_now = True
        now = self.clock()
        if self.announce_now or self.last_beat is None or now - self.last_beat >= self.heartbeat_seconds:
            await handle(self.uow(), AnnounceKeys(sent_at=utcnow()), self.host)
            self.last_beat = now
            self.announce_now = False
        return None  # the rescan interval, or until signing finds the keys changed


def key_watch(
    host: SignerHost, uow: Callable[[], SignerUnitOfWork], *, rescan_seconds: float, heartbeat_seconds: float
) -> Worker:
    watch = KeyWatch(host, uow, heartbeat_seconds)
    worker = Worker("key-watch", watch.step, poll_seconds=rescan_seconds, host_id=host.host_id)
    host.on_keys_changed(worker.wake)
    return worker
