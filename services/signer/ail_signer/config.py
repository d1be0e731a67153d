"""Settings of the signer host (env prefix AIL_)."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.errors import ConfigError


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
