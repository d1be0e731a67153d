"""Wires the signer host: settings, the token worker, the key watch loop, the request consumer."""

from __future__ import annotations

import asyncio
import socket

from fastapi import FastAPI
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.consumer import EventConsumer
from ail_shared.errors import ConfigError
from ail_shared.http import Runtime
from ail_shared.logging import get_logger
from ail_signer.adapters.pkcs11_tokens import Pkcs11Tokens
from ail_signer.adapters.repository import SCHEMA
from ail_signer.adapters.token_worker import Tokens, TokenWorker
from ail_signer.entrypoints.api import router
from ail_signer.entrypoints.consumer import SignatureRequestConsumer
from ail_signer.service_layer.key_watch import run_key_watch
from ail_signer.service_layer.signing import SigningService

log = get_logger("ail.signer")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "signer"
    http_port: int = 18105
    # The PKCS#11 module: SoftHSM2 in development and tests, the e-key vendor's in production.
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    # The user PIN of the e-keys (AIL_SIGNER_PIN), and per-serial PINs where they differ
    # (AIL_SIGNER_PINS='{"<serial>": "<pin>"}').
    signer_pin: SecretStr = SecretStr("")
    signer_pins: dict[str, SecretStr] = Field(default_factory=dict)
    # This host's id in heartbeats and in SignatureRequested.signer_host; the consumer group is
    # signer.<host id>. Defaults to the machine's host name (one signer per e-key host).
    signer_host_id: str = Field(default_factory=socket.gethostname)
    signer_heartbeat_seconds: float = Field(default=5.0, gt=0)
    signer_rescan_seconds: float = Field(default=2.0, gt=0)
    # SoftHSM2 sees inserted tokens only after C_Initialize; see adapters/pkcs11_tokens.py.
    signer_reinitialize_on_scan: bool = True

    @model_validator(mode="after")
    def _pin_is_real_outside_development(self) -> Settings:
        if self.env != "development":
            for name, pin in [("AIL_SIGNER_PIN", self.signer_pin), *self.signer_pins.items()]:
                if pin.get_secret_value() in PLACEHOLDER_SECRETS:
                    raise ConfigError(
                        f"{name if name == 'AIL_SIGNER_PIN' else 'AIL_SIGNER_PINS[' + name + ']'}"
                        f" is a placeholder; set the e-key's real PIN (AIL_ENV={self.env})"
                    )
        return self

    def pin_for(self, serial: str) -> str:
        return (self.signer_pins.get(serial) or self.signer_pin).get_secret_value()


def bootstrap(settings: Settings | None = None, tokens: Tokens | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    worker = TokenWorker(
        tokens
        or Pkcs11Tokens(
            module_path=settings.pkcs11_module,
            pin_for=settings.pin_for,
            reinitialize_on_scan=settings.signer_reinitialize_on_scan,
        )
    )
    service = SigningService(
        host_id=settings.signer_host_id,
        worker=worker,
        heartbeat_ttl_seconds=3 * settings.signer_heartbeat_seconds,
    )
    stopping = asyncio.Event()

    async def start(rt: Runtime) -> None:
        rt.extra["signing"] = service
        try:
            await service.rescan()  # know the keys before the first request is read
        except Exception as exc:  # noqa: BLE001 - keep serving; the key watch retries
            log.error(
                "pkcs11_unusable",
                module=settings.pkcs11_module,
                error=repr(exc),
                action="check AIL_PKCS11_MODULE (and SOFTHSM2_CONF for SoftHSM2); retrying",
            )
        rt.tasks.append(
            asyncio.create_task(
                run_key_watch(
                    service,
                    rt.db(),
                    rescan_seconds=settings.signer_rescan_seconds,
                    heartbeat_seconds=settings.signer_heartbeat_seconds,
                    stopping=stopping,
                ),
                name="key-watch",
            )
        )

    async def stop(rt: Runtime) -> None:
        stopping.set()
        await worker.close()

    def consumers(rt: Runtime) -> list[EventConsumer]:
        return [
            SignatureRequestConsumer(
                service=service, pool=rt.db(), schema=SCHEMA, bootstrap=rt.settings.kafka_bootstrap
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
