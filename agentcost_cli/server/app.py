"""The app factory: `create_app(config)` wires routes, error handling and middleware.

Routes are thin (parse, call a service with the request's Actor, answer); everything
they decide comes from services/, exactly as for the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .. import __version__
from ..services.auth_config import AuthConfig
from . import openapi, problems
from .config import ServerConfig
from .ingest_pool import IngestPool
from .ingest_writer import GroupCommitWriter
from .limiting import ApiLimiter
from .routes import admin, alerting, events, health, projects, sso, usage
from .routes import auth as auth_routes
from .stores import StoreProvider

DESCRIPTION = """
agentcost's ingestion and management API.

* **Authentication**: `Authorization: Bearer <key>` with a project API key (`ac_live_...`), or
  `Bearer <access token>` from `POST /v1/auth/login` (15 minutes; renew with `/v1/auth/refresh`).
* **Errors** are RFC 9457 `application/problem+json`; each `type` (`/problems/<slug>`) is explained
  at `GET /problems/<slug>`.
* **Rate limits** are announced on every answer with `RateLimit-Policy` and `RateLimit`; a `429`
  carries `Retry-After`.
* **Lists** take `limit` and `cursor` and answer `{"items": [...], "next_cursor": ...}`.
"""


def auth_config_for(config: ServerConfig) -> AuthConfig:
    from datetime import timedelta

    from ..settings import Settings

    conf = Settings.load()
    if not conf["auth.key_file"] and "://" in config.store_path:
        from ..errors import ConfigError

        raise ConfigError("set auth.key_file (AGENTCOST_KEY_FILE): a server store has no file to keep its key beside",
                          hint="every daemon on the store needs the same key file")
    key_file = conf["auth.key_file"] or config.store_path + ".key"
    return AuthConfig(public_url=config.public_url, key_file=Path(key_file).expanduser(),
                      session_idle=timedelta(days=conf["auth.session_idle_days"]),
                      session_max=timedelta(days=conf["auth.session_max_days"]),
                      breach_check_url=conf["auth.breach_check_url"])


def create_api(config: ServerConfig, *, auth: AuthConfig | None = None) -> FastAPI:
    """The FastAPI app: routes, error documents, and the middleware that needs its routing."""
    from .metrics import Metrics, metrics_response
    from .ratelimit import RateLimitHeadersMiddleware, multi_instance_check
    from .security import cors_options

    stores = StoreProvider(config.store_path, synchronous=config.synchronous, auth=auth or auth_config_for(config))
    metrics = Metrics()
    multi_instance_check(config.rate_limit_storage, workers=config.workers,
                         shared_store="://" in config.store_path)
    limiter = ApiLimiter(config.rate_limit_storage, config.limits, metrics)
    writer = GroupCommitWriter(stores)
    # Large batches are validated and priced in worker processes (an embedded store only).
    pool = IngestPool(config.store_path) if config.ingest_workers > 0 and config.local_store else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stores.migrate()
        for warning in stores.get().durability_warnings():  # API-08: e.g. synchronous_commit=off
            logging.getLogger("agentcost.server").warning(warning)
        _ = stores.auth.jwt_key  # create or read the server key now: a bad key file fails the start
        limiter.limiter.check_storage()
        metrics.set_outbox_depth_source(lambda: len(stores.get().list_outbox(status="pending", limit=100_000)))
        writer.start()
        if config.scheduler:
            from ..services.jobs import job_specs
            from .scheduler import JobScheduler

            app.state.scheduler = JobScheduler(
                job_specs(pricing_at=config.pricing_refresh, imports=config.scheduled_imports), stores.get,
                zone=stores.get().rollup_zone)
            app.state.scheduler.start()
        try:
            if pool is not None:
                from ..services.usage import current_pricer

                revision = current_pricer(stores.get()).revision  # makes the first revision if there is none
                try:
                    await pool.start(revision)
                except Exception as exc:  # batches are then prepared here, as small ones are
                    logging.getLogger("agentcost.server").warning("no ingest worker: %s", exc)
                    await pool.close()
            yield
        finally:
            if app.state.scheduler is not None:
                app.state.scheduler.shutdown()  # waits for a running job: its lease is released
            writer.close()  # after the last request: what was acknowledged is committed already
            if pool is not None:
                await pool.close()  # no request is waiting for it any more
            limiter.close()
            stores.close()

    app = FastAPI(
        title="agentcost", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,
        responses={401: {"model": _problem_model(), "description": "Not authenticated"},
                   403: {"model": _problem_model(), "description": "Not permitted"},
                   429: {"model": _problem_model(), "description": "Rate limited"}},
    )
    app.state.config = config
    app.state.stores = stores
    app.state.limiter = limiter
    app.state.writer = writer
    app.state.ingest_pool = pool
    app.state.metrics = metrics
    app.state.scheduler = None
    problems.install(app)
    openapi.install(app)
    for module in (health, events, auth_routes, sso, projects, usage, admin, alerting):
        app.include_router(module.router)

    if config.docs:
        from . import docs

        docs.install(app)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Any:
        return metrics_response(metrics)

    cors = cors_options(list(config.cors_origins))
    if cors is not None:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(RateLimitHeadersMiddleware)
    return app


def create_app(config: ServerConfig, *, auth: AuthConfig | None = None) -> Any:
    """The whole ASGI application, outermost first: trusted-proxy headers, request id and access
    log, metrics, security headers, HTTPS-only, then the FastAPI app. The outer layers wrap the
    app from outside so that even Starlette's own 500 answers carry request ids and headers."""
    from .metrics import MetricsMiddleware
    from .observability import RequestContextMiddleware
    from .security import HttpsOnlyMiddleware, ProxyHeadersMiddleware, SecurityHeadersMiddleware

    api = create_api(config, auth=auth)
    inner: Any = HttpsOnlyMiddleware(api, enabled=config.require_https)
    inner = SecurityHeadersMiddleware(inner, tls=config.tls)
    inner = MetricsMiddleware(inner, api.state.metrics)
    inner = RequestContextMiddleware(inner)
    outer = ProxyHeadersMiddleware(inner, trusted_proxies=list(config.trusted_proxies))
    outer.api = api  # type: ignore[attr-defined]  # tests and the daemon reach the FastAPI app here
    return outer


def _problem_model() -> Any:
    from .schemas import Problem

    return Problem
