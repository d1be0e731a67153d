"""Settings of the status service (env prefix AIL_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared import netguard
from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.errors import ConfigError
from ail_shared.secretbox import SecretBox, SecretBoxError
from ail_status.domain.webhooks import RetryPolicy

MAX_RETRY_PERIOD_SECONDS = 7 * 86400
DEVELOPMENT_KEY_RING = "dev:" + "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcmVhbC11c2U="  # 32 bytes, public


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "status"
    http_port: int = 18103
    lifecycle_consumers: int = Field(default=2, ge=1, le=8)
    # Webhooks. A failed delivery is retried with exponential backoff (base, doubling, capped at
    # max) until a 2xx, for the retry period (from its first attempt); then it is marked failed.
    webhook_retry_period_seconds: int = Field(default=86400, ge=1, le=MAX_RETRY_PERIOD_SECONDS)
    webhook_backoff_base_seconds: float = Field(default=1.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # Webhook targets are checked by ail_shared.netguard at subscription and before every
    # attempt. Loopback (127/8, ::1, localhost) only when this is set, and only in development:
    # the local stack sets it for its receivers on 127.0.0.1. Private, link-local, metadata
    # addresses are refused always.
    webhook_allow_loopback: bool = False
    # Resolve webhook host names through DNS; false: only names of the hosts file (./dev sets it,
    # so that tests and fuzzers with random URLs send no DNS query off the machine).
    webhook_dns: bool = True
    # Key ring of the webhook signing secrets at rest (ail_shared.secretbox): "<id>:<base64 32
    # bytes>[,<id>:<key>...]", the first encrypts. Required outside development; ./dev writes a
    # generated one to the stack's env file.
    webhook_secret_keys: SecretStr = SecretStr("")
    run_delivery_worker: bool = True
    # Live stream
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_poll_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _webhook_rules(self) -> Settings:
        if self.webhook_allow_loopback and self.env != "development":
            raise ConfigError("AIL_WEBHOOK_ALLOW_LOOPBACK is for development only; unset it")
        ring = self.webhook_secret_keys.get_secret_value()
        if self.env != "development" and ring in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "AIL_WEBHOOK_SECRET_KEYS is not set: give a key ring '<id>:<base64 of 32 random"
                " bytes>' (e.g. python -c 'from ail_shared.secretbox import generate_key_ring;"
                " print(generate_key_ring())')"
            )
        if ring not in PLACEHOLDER_SECRETS:
            try:
                SecretBox.from_setting(ring)
            except SecretBoxError as exc:
                raise ConfigError(f"AIL_WEBHOOK_SECRET_KEYS: {exc}") from exc
        return self

    def url_policy(self) -> netguard.Policy:
        """https only outside development; loopback only when explicitly allowed."""
        return netguard.Policy(
            require_https=self.env != "development",
            allow_loopback=self.webhook_allow_loopback,
            resolve_timeout_seconds=self.webhook_connect_timeout_seconds,
        )

    def url_resolver(self) -> netguard.Resolver:
        return netguard.system_resolver if self.webhook_dns else netguard.hosts_file_resolver()

    def secret_box(self) -> SecretBox:
        ring = self.webhook_secret_keys.get_secret_value()
        if ring in PLACEHOLDER_SECRETS:
            # Development without a key ring: a fixed, published key. Encrypted rows still hold
            # no clear secret, but this protects nothing; the stack and production set a real one.
            ring = DEVELOPMENT_KEY_RING
        return SecretBox.from_setting(ring)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.webhook_backoff_base_seconds, self.webhook_backoff_max_seconds)
