"""Named profiles in the user's config directory, and which one a command uses.

``$AIL_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/ail`` or ``~/.config/ail``; the file ``profiles.json``
holds API keys, so it is written with mode 600 (and the directory 700) before any key is in it.
A command uses ``--profile NAME``, else ``$AIL_CLI_PROFILE``, else the default profile (the last
``ail login``); ``AIL_URL`` and ``AIL_API_KEY`` override the profile's URL and key, and
``AIL_ENTERPRISE`` its enterprise (an agency's default ``X-Enterprise-Code``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE = "profiles.json"


class ConfigError(Exception):
    """A problem with the configuration; the message says what to do."""


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    key: str
    enterprise: str | None = None


def config_dir() -> Path:
    if os.environ.get("AIL_CONFIG_DIR"):
        return Path(os.environ["AIL_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ail"


def _read() -> dict[str, Any]:
    path = config_dir() / FILE
    if not path.exists():
        return {"default": None, "profiles": {}}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} ({exc}): fix or delete it, then run ail login again") from exc
    return data


def save_profile(profile: Profile, *, make_default: bool = True) -> Path:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = _read()
    data.setdefault("profiles", {})[profile.name] = {
        "url": profile.url,
        "key": profile.key,
        "enterprise": profile.enterprise,
    }
    if make_default or not data.get("default"):
        data["default"] = profile.name
    path = folder / FILE
    tmp = folder / (FILE + ".tmp")
    # Created 600 before the key is written, then renamed over the old file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def list_profiles() -> tuple[str | None, dict[str, dict[str, Any]]]:
    data = _read()
    return data.get("default"), dict(data.get("profiles") or {})


def resolve(name: str | None = None) -> Profile:
    """The profile a command uses, with the environment's overrides."""
    default, profiles = list_profiles()
    chosen = name or os.environ.get("AIL_CLI_PROFILE") or default
    stored: dict[str, Any] = {}
    if chosen:
        if chosen not in profiles and (name or not os.environ.get("AIL_API_KEY")):
            known = ", ".join(sorted(profiles)) or "none yet"
            raise ConfigError(
                f"no profile '{chosen}' (profiles: {known}):"
                f" run ail login --profile {chosen} --url URL --key KEY"
            )
        stored = profiles.get(chosen, {})
    url = os.environ.get("AIL_URL") or stored.get("url")
    key = os.environ.get("AIL_API_KEY") or stored.get("key")
    if not url or not key:
        raise ConfigError(
            "not logged in: run ail login --url https://HOST --key ail_<id>_<secret>"
            " (or set AIL_URL and AIL_API_KEY)"
        )
    enterprise = os.environ.get("AIL_ENTERPRISE") or stored.get("enterprise")
    return Profile(chosen or "env", url.rstrip("/"), key, enterprise or None)
