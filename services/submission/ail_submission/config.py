"""Settings of the submission service (env prefix AIL_)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.errors import ConfigError


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "submission"
    http_port: int = 18102
    pg_pool_max: int = 20
    mofcom_url: str = "http://127.0.0.1:18201"
    application_url: str = "http://127.0.0.1:18101"
    mofcom_timeout: float = 2.0
    mofcom_attempts: int = 3
    mofcom_backoff: float = 0.2
    sender_concurrency: int = 32
    sender_max_attempts: int = 40
    sender_max_backoff: float = 20.0
    consumer_members: int = 3  # group members per topic in this process (partitions are shared)
    # The secret MOFCOM signs its result callbacks with (HMAC-SHA256, ail_shared.auth).
    mofcom_callback_secret: SecretStr = SecretStr("")
    # How long a submission waits for its e-key while no signer host announces it (a signer
    # restart, a Kafka outage) before it fails with ekey_not_present (issue 10, item 3).
    ekey_grace_minutes: float = Field(default=10.0, gt=0)
    ekey_wait_poll_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _callback_secret_is_real(self) -> Settings:
        if (
            self.env != "development"
            and self.mofcom_callback_secret.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ConfigError(
                "AIL_MOFCOM_CALLBACK_SECRET is a placeholder: set the secret shared with MOFCOM"
            )
        return self

    @property
    def ekey_grace(self) -> timedelta:
        return timedelta(minutes=self.ekey_grace_minutes)
