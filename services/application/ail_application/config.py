"""Settings of the application service (env prefix AIL_)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from ail_shared.config import PLACEHOLDER_SECRETS, ServiceSettings
from ail_shared.errors import ConfigError


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "application"
    http_port: int = 18101
    # Where pre-check eligibility comes from: the catalogue data, or MOFCOM (submission work).
    eligibility_source: Literal["catalogue", "mofcom"] = "mofcom"
    mofcom_url: str = "http://127.0.0.1:18201"
    # Key-agri filings: rounds of reporting to MOFCOM (exponential backoff) before giving up.
    filing_report_attempts: int = 6
    # The printed license's QR code (issue 13, item 19): the URL of the public check under the
    # entry point, and the key of its unguessable token (a long random secret; changing it
    # invalidates the QR codes printed before).
    entry_url: str = "http://127.0.0.1:18080"
    license_verify_key: SecretStr = SecretStr("development-license-verify-key")

    @model_validator(mode="after")
    def _license_verify_key_is_real(self) -> Settings:
        key = self.license_verify_key.get_secret_value()
        if self.env != "development" and (key in PLACEHOLDER_SECRETS or key.startswith("development-")):
            raise ConfigError("AIL_LICENSE_VERIFY_KEY is a placeholder: set a long random secret")
        return self
