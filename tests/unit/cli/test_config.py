"""Profiles of ail: stored with mode 600, chosen by --profile / AIL_CLI_PROFILE / the default,
overridden by AIL_URL, AIL_API_KEY and AIL_ENTERPRISE; errors say to log in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ail_cli import config


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIL_CONFIG_DIR", str(tmp_path / "ail"))
    for name in ("AIL_URL", "AIL_API_KEY", "AIL_ENTERPRISE", "AIL_CLI_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "ail"


def test_profiles_file_is_private(folder: Path) -> None:
    path = config.save_profile(config.Profile("default", "https://a.example", "ail_k_s"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_choice_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    config.save_profile(config.Profile("prod", "https://prod.example/", "ail_p_s", "1100776367555"))
    config.save_profile(config.Profile("test", "https://test.example", "ail_t_s"))
    assert config.resolve().name == "test"  # the last login is the default
    assert config.resolve("prod").enterprise == "1100776367555"
    monkeypatch.setenv("AIL_CLI_PROFILE", "prod")
    assert config.resolve().url == "https://prod.example/".rstrip("/")
    monkeypatch.setenv("AIL_API_KEY", "ail_env_s")
    monkeypatch.setenv("AIL_ENTERPRISE", "3100123456789")
    p = config.resolve()
    assert (p.name, p.key, p.enterprise) == ("prod", "ail_env_s", "3100123456789")


def test_not_logged_in_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(config.ConfigError, match="ail login --url"):
        config.resolve()
    with pytest.raises(config.ConfigError, match="ail login --profile nope"):
        config.resolve("nope")
    monkeypatch.setenv("AIL_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AIL_API_KEY", "ail_a_b")
    assert config.resolve().name == "env"
