"""Settings of the customs service (env prefix AIL_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "customs"
    http_port: int = 18104
    # The Customs system (the sandbox in development): AIL_CUSTOMS_URL.
    customs_url: str = "http://127.0.0.1:18202"
    customs_timeout_seconds: float = Field(default=3.0, gt=0)
    customs_tries: int = Field(default=3, ge=1, le=10)  # per delivery round
    customs_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    # A cancellation round's lease: short, since sending a cancellation twice is harmless (Customs
    # answers a repeated one as the first) and a replacement waits for it.
    cancellation_lease_seconds: float = Field(default=10.0, gt=0)
    # automatic re-send after a failed round: base, 2*base, 4*base ... at most this many rounds
    resend_backoff_seconds: float = Field(default=5.0, gt=0)
    max_auto_resend_rounds: int = Field(default=5, ge=1)
    clearance_poll_seconds: float = Field(default=0.5, gt=0)
    # the expiry sweep (licenses past valid_until, a China date); minutes are plenty in production
    expiry_poll_seconds: float = Field(default=60.0, gt=0)
    clearance_page_size: int = Field(default=500, ge=1, le=5000)
    # The availability check's common case answered before the FastAPI stack (issue 16;
    # entrypoints/fast_availability.py); false: every check takes the full route.
    fast_availability: bool = True
