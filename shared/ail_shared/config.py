"""Settings. Each service subclasses :class:`ServiceSettings` with its own fields; the common
fields are read from ``AIL_*`` variables (the local stack writes them to .devstack/<profile>/env).
Build settings in ``bootstrap()``, never as a module-level global."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ail_shared.errors import ConfigError

PLACEHOLDER_SECRETS = {"", "changeme", "123456", "secret"}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    service_name: str = "ail"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    pg_dsn: str = "postgresql://ail@127.0.0.1:18032/ail"
    pg_pool_min: int = 1
    pg_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:18092"
    log_level: str = "INFO"
    # Run the outbox relay inside the service process (one relay per schema is elected by a
    # PostgreSQL advisory lock, so several replicas are safe).
    run_outbox_relay: bool = True
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = ""
    # Share of traces that keep a span per PostgreSQL statement (AIL_OTEL_DB_SPAN_RATIO). 0, the
    # default, drops them (the asyncpg instrumentation is not installed): every request's, event's
    # and worker item's span stays, and the export thread no longer costs ~9% of each service
    # (issue 16, fix 3). 1.0 records every statement, e.g. while chasing a slow query.
    otel_db_span_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    # The service credential every internal route requires (ail_shared.auth.ServiceCredential).
    internal_token: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _internal_token_is_real(self) -> ServiceSettings:
        if self.env != "development" and self.internal_token.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "AIL_INTERNAL_TOKEN is a placeholder: set the service credential (a long random secret)"
            )
        return self

    @model_validator(mode="after")
    def _dsn_is_postgres(self) -> ServiceSettings:
        if not self.pg_dsn.startswith(("postgresql://", "postgres://")):
            raise ConfigError("AIL_PG_DSN must be a postgresql:// URL")
        return self
