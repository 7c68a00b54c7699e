"""Notification channels and their deliveries: `/v1/channels*`, `/v1/deliveries*` and
`/v1/outbox/dispatch`, the HTTP form of `agentcost channels ...` and `agentcost outbox dispatch`.

Included by routes/alerting.py. The services decide who may do what (a project's admins
manage its channels and read their deliveries; store-wide channels, every delivery and the
dispatcher are for operators); the routes parse, call them with the signed-in actor (a user
or an API key) and answer with what they returned.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ...errors import ConfigError, InvalidInput
from ...services import alert_run, alert_tests, channels, outbox
from ..deps import ActorDep, StoreDep
from ..paging import page
from ..schemas_alerts import Channel as ChannelModel
from ..schemas_alerts import (
    ChannelCreate,
    ChannelCreated,
    ChannelPage,
    ChannelSecret,
    ChannelTest,
    ChannelTestAnswer,
    DeliveryPage,
    DispatchReport,
    DispatchRequest,
    RetryAnswer,
    RetryRequest,
    SecretRotate,
)

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=1000)]
Since = Annotated[str | None, Query(max_length=64, description="Created at or after this time (RFC 3339 UTC).")]
MANAGERS = "The channel's project admins, or operators for store-wide channels (`/problems/forbidden`)."
OPERATORS = "Server admins only (`/problems/forbidden` for anyone else)."
_ID_CURSOR = re.compile(r"[0-9]{1,18}")
MAX_OVERLAP_HOURS = 1e6  # far past the service's 7-day limit, short of timedelta's range


def id_cursor(cursor: str | None) -> int | None:
    """The row id a paging cursor names: lists newest first continue below it."""
    if not cursor:
        return None
    if not _ID_CURSOR.fullmatch(cursor):
        raise InvalidInput("invalid cursor", hint="pass the next_cursor of the previous page as it was")
    return int(cursor)


def id_page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A page of rows fetched with `limit`: a full page may have more after it (the next,
    possibly empty, page says), so the service is asked exactly what a local caller asks."""
    return {"items": rows, "next_cursor": str(rows[-1]["id"]) if rows and len(rows) >= limit else None}


# -- channels ----------------------------------------------------------------------------------
@router.get("/v1/channels", response_model=ChannelPage, tags=["channels"])
def list_channels(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Every channel you may see, by name, with its target redacted: `agentcost channels list`."""
    return page(channels.list_channels(store, actor), cursor, limit)


@router.post("/v1/channels", status_code=201, response_model=ChannelCreated, response_model_exclude_unset=True,
             tags=["channels"], responses={409: {"description": "The name is taken (`/problems/conflict`)."},
                                           403: {"description": MANAGERS}})
def add_channel(body: ChannelCreate, request: Request, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Add a channel. A webhook channel's signing secret is in this answer (`secret`) and never again."""
    return channels.add_channel(store, actor, name=body.name, kind=body.kind, target=body.target,
                                project=body.project, token=body.token)


@router.delete("/v1/channels/{name}", status_code=204, response_class=Response, tags=["channels"],
               responses={403: {"description": MANAGERS}, 404: {"description": "No such channel."}})
def remove_channel(name: str, actor: ActorDep, store: StoreDep) -> Response:
    """Remove a channel (its past deliveries stay in the outbox)."""
    channels.remove_channel(store, actor, name)
    return Response(status_code=204)


@router.post("/v1/channels/{name}/enable", response_model=ChannelModel, tags=["channels"],
             responses={403: {"description": MANAGERS}, 404: {"description": "No such channel."}})
def enable_channel(name: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Re-enable a channel (its failure streak starts afresh)."""
    return channels.set_enabled(store, actor, name, True)


@router.post("/v1/channels/{name}/disable", response_model=ChannelModel, tags=["channels"],
             responses={403: {"description": MANAGERS}, 404: {"description": "No such channel."}})
def disable_channel(name: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Disable a channel by hand: alerts skip it until it is enabled."""
    return channels.set_enabled(store, actor, name, False)


@router.post("/v1/channels/{name}/rotate-secret", response_model=ChannelSecret, tags=["channels"],
             responses={403: {"description": MANAGERS}, 404: {"description": "No such channel."}})
def rotate_secret(name: str, request: Request, actor: ActorDep, store: StoreDep,
                  body: SecretRotate | None = None) -> dict[str, Any]:
    """A new signing secret for a webhook channel (shown this once); the previous one keeps signing
    deliveries for `overlap_hours`, so receivers can switch without dropping one."""
    hours = body.overlap_hours if body is not None else None
    overlap = None
    if hours is not None:  # out of range either way: let the service say so in its own words
        overlap = timedelta(hours=max(-MAX_OVERLAP_HOURS, min(MAX_OVERLAP_HOURS, hours)))
    return channels.rotate_secret(store, actor, name, overlap=overlap)


@router.post("/v1/channels/test", response_model=ChannelTestAnswer, tags=["channels"],
             responses={403: {"description": MANAGERS},
                        422: {"description": "A channel is disabled, there is none to test, or email delivery is "
                                             "not configured on the daemon (`/problems/invalid-input`)."}})
def test_channels(body: ChannelTest, request: Request, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Send a test message through channels now (every active channel you manage when `names` is
    empty) and say what happened to each: `agentcost channels test`."""
    try:
        results = alert_tests.test_channels(store, actor, body.names)
    except ConfigError as exc:  # the daemon has no email provider: say so, not "internal error"
        raise InvalidInput(exc.message, hint=exc.hint) from None
    return {"results": results}


# -- deliveries and the dispatcher --------------------------------------------------------------
@router.get("/v1/deliveries", response_model=DeliveryPage, tags=["deliveries"],
            responses={403: {"description": "Without `channel`: " + OPERATORS}})
def list_deliveries(actor: ActorDep, store: StoreDep, channel: str | None = None, failed: bool = False,
                    since: Since = None, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Webhook and chat deliveries, newest first, each with its attempts: `agentcost channels
    deliveries`. A project admin names one of the project's channels."""
    rows = outbox.deliveries(store, actor, channel=channel, failed=failed, since=since, limit=limit,
                             before_id=id_cursor(cursor))
    return id_page(rows, limit)


@router.post("/v1/deliveries/retry", response_model=RetryAnswer, tags=["deliveries"],
             responses={403: {"description": "Without `channel`: " + OPERATORS},
                        404: {"description": "A named message does not exist (`/problems/not-found`)."}})
def retry_deliveries(body: RetryRequest, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Send failed messages again: the `ids` named, or every failed one `since` a time (`all_failed`).
    Each keeps its idempotency key, so a receiver that got it once can tell."""
    return outbox.retry(store, actor, ids=body.ids, all_failed=body.all_failed, since=body.since,
                        channel=body.channel)


@router.post("/v1/outbox/dispatch", response_model=DispatchReport, tags=["outbox"],
             responses={403: {"description": OPERATORS}})
def dispatch(request: Request, actor: ActorDep, store: StoreDep, body: DispatchRequest | None = None) -> dict[str, Any]:
    """Deliver what is due now, once each (the daemon's scheduler does this every few seconds)."""
    return alert_run.dispatch(store, actor, limit=body.limit if body is not None else 50)
