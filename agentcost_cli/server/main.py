"""What uvicorn imports: `app_factory()` builds the app from the settings, so that every
worker process (with --workers) builds the same one from the same environment."""

from __future__ import annotations

import os
from typing import Any

from .app import create_app
from .config import ServerConfig


def app_factory() -> Any:
    from .observability import init_sentry

    init_sentry(os.environ.get("SENTRY_DSN"))  # per worker process; a no-op without a DSN
    return create_app(ServerConfig.from_settings(
        tls=os.environ.get("_AGENTCOST_TLS") == "1",
        workers=int(os.environ.get("_AGENTCOST_WORKERS", "1")),
    ))
