"""Wires the signer host: settings, the token worker, the typed dependencies (``Deps``), the key
watch worker, the request consumer, the HTTP router."""

from __future__ import annotations

from fastapi import FastAPI

from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime
from ail_shared.logging import get_logger
from ail_shared.workers import Worker
from ail_signer.adapters.pkcs11_tokens import Pkcs11Tokens
from ail_signer.adapters.repository import SCHEMA
from ail_signer.adapters.token_worker import Tokens, TokenWorker
from ail_signer.config import Settings
from ail_signer.entrypoints.api import router
from ail_signer.entrypoints.consumers import SignatureRequestConsumer
from ail_signer.service_layer.deps import Deps
from ail_signer.service_layer.host import SignerHost
from ail_signer.service_layer.workers import key_watch

__all__ = ["Settings", "bootstrap"]

log = get_logger("ail.signer")


def deps_of(rt: Runtime) -> Deps:
    if not isinstance(rt.deps, Deps):
        raise RuntimeError("the signer's dependencies are not built yet")
    return rt.deps


def bootstrap(settings: Settings | None = None, tokens: Tokens | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    worker = TokenWorker(
        tokens
        or Pkcs11Tokens(
            module_path=settings.pkcs11_module,
            pin_for=settings.pin_for,
            reinitialize_on_scan=settings.signer_reinitialize_on_scan,
        ),
        host_id=settings.signer_host_id,
    )
    host = SignerHost(
        host_id=settings.signer_host_id,
        tokens=worker,
        heartbeat_ttl_seconds=3 * settings.signer_heartbeat_seconds,
    )
    workers: list[Worker] = []

    async def start(rt: Runtime) -> None:
        deps = Deps(settings=settings, pool=rt.db(), host=host)
        rt.deps = deps
        try:
            await host.rescan()  # know the keys before the first request is read
        except Exception as exc:  # noqa: BLE001 - keep serving; the key watch retries
            log.error(
                "pkcs11_unusable",
                module=settings.pkcs11_module,
                error=repr(exc),
                action="check AIL_PKCS11_MODULE (and SOFTHSM2_CONF for SoftHSM2); retrying",
            )
        watch = key_watch(
            host,
            deps.uow,
            rescan_seconds=settings.signer_rescan_seconds,
            heartbeat_seconds=settings.signer_heartbeat_seconds,
        )
        workers.append(watch)
        rt.tasks.append(watch.start())

    async def stop(rt: Runtime) -> None:
        for w in workers:
            w.stop()
        await worker.close()

    def consumers(rt: Runtime) -> list[EventConsumer]:
        deps = deps_of(rt)
        return [
            SignatureRequestConsumer(
                host=host, uow=deps.uow, pool=deps.pool, schema=SCHEMA, bootstrap=settings.kafka_bootstrap
            )
        ]

    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Signer service",
        description="Signs canonical application snapshots with the e-keys on this host (PKCS#11).",
        routers=[router],
        consumers=consumers,
        on_startup=[start],
        on_shutdown=[stop],
    )
