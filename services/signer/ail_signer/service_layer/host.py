"""The signer host: its id, the token thread, and the e-keys it holds now (from the last scan).
The handlers (``service_layer/handlers.py``) sign with it; the key watch worker rescans it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ail_shared import metrics
from ail_shared.events import utcnow
from ail_shared.logging import get_logger
from ail_signer.domain.model import KeyInfo, SignOutcomes

log = get_logger("ail.signer")


class TokenSigner(Protocol):
    """What the host needs of ``adapters.token_worker.TokenWorker`` (the token thread)."""

    async def scan(self) -> list[KeyInfo]: ...

    def submit(self, jobs: list[tuple[str, bytes]]) -> asyncio.Future[SignOutcomes]:
        """Queue the jobs on the token thread now; the future resolves when they are signed."""
        ...

    async def sign_many(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes: ...


@dataclass
class SignerHost:
    host_id: str
    tokens: TokenSigner
    heartbeat_ttl_seconds: float
    keys: list[KeyInfo] = field(default_factory=list)
    scanned_at: str = ""
    keys_changed: bool = False  # a token vanished while signing: rescan and announce now
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    def held_serials(self) -> set[str]:
        return {k.serial for k in self.keys}

    def on_keys_changed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when signing finds the keys changed (the key watch's wake-up)."""
        self._listeners.append(callback)

    def mark_keys_changed(self) -> None:
        self.keys_changed = True
        for callback in self._listeners:
            callback()

    async def rescan(self) -> bool:
        """Look at the tokens again; True when the set of keys (or their state) changed."""
        keys = await self.tokens.scan()
        changed = keys != self.keys
        if changed:
            log.info(
                "ekeys_changed",
                host_id=self.host_id,
                keys=[f"{k.serial}:{k.label}:{k.status}" for k in keys],
            )
        self.keys = keys
        self.scanned_at = utcnow().isoformat()
        metrics.EKEYS_PRESENT.labels(self.host_id).set(len(keys))
        return changed
