"""Where agentcost keeps its files.

Everything goes through here so that `AGENTCOST_HOME` (or `--home`) can move
all of it at once: that is both a user feature and the test isolation hook.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "agentcost"


def home_override() -> Path | None:
    value = os.environ.get("AGENTCOST_HOME")
    return Path(value).expanduser() if value else None


def _platform_dir(kind: str) -> Path:
    # platformdirs is imported lazily: it is only needed when no home override is set.
    import platformdirs

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
        "log": platformdirs.user_log_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def _dir(kind: str) -> Path:
    home = home_override()
    return home / kind if home else _platform_dir(kind)


def config_dir() -> Path:
    return _dir("config")


def data_dir() -> Path:
    return _dir("data")


def cache_dir() -> Path:
    return _dir("cache")


def log_dir() -> Path:
    return _dir("log")


def config_file() -> Path:
    return config_dir() / "config.toml"


def default_db_path() -> Path:
    return data_dir() / "agentcost.db"


def pricing_dir() -> Path:
    """Validated remote pricing snapshots live here (named by content hash)."""
    return data_dir() / "pricing"
