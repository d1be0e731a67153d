"""Settings of the application service (env prefix AIL_)."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "application"
    http_port: int = 18101
    # Where pre-check eligibility comes from: the catalogue data, or MOFCOM (submission work).
    eligibility_source: Literal["catalogue", "mofcom"] = "mofcom"
    mofcom_url: str = "http://127.0.0.1:18201"
    # Key-agri filings: rounds of reporting to MOFCOM (exponential backoff) before giving up.
    filing_report_attempts: int = 6
