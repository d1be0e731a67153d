"""Settings of the status service (env prefix AIL_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings
from ail_shared.http import Runtime
from ail_status.domain.webhooks import RetryPolicy

MAX_RETRY_PERIOD_SECONDS = 7 * 86400


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
    # Loopback and private addresses as webhook targets: allowed in development and tests (the
    # tests' receivers listen on 127.0.0.1), refused in production unless set.
    webhook_allow_private_hosts: bool | None = None
    run_delivery_worker: bool = True
    # Live stream
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_poll_seconds: float = Field(default=2.0, gt=0)

    @property
    def allow_private_hosts(self) -> bool:
        if self.webhook_allow_private_hosts is not None:
            return self.webhook_allow_private_hosts
        return self.env != "production"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.webhook_backoff_base_seconds, self.webhook_backoff_max_seconds)


def settings_of(rt: Runtime) -> Settings:
    assert isinstance(rt.settings, Settings)
    return rt.settings
