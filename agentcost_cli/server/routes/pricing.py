"""Prices: `/v1/pricing/*`, the HTTP form of `agentcost pricing ...`.

Reading (models, history, unpriced models) is for every signed-in user and for keys with
scope read or admin; changing prices or stored costs (overrides, updates, repricing) is for
server admins. The services decide (`PRICING_VIEW`, `PRICING_MANAGE`); the routes parse and
answer. A price update fetches from the daemon's own configured source (`pricing.url`),
never from an address in the request: the daemon reads no URL or file a client names.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...errors import InvalidInput, PricingError
from ...services import pricing
from ...timeutil import format_utc, parse_time_arg
from ..deps import ActorDep, StoreDep
from ..paging import page
from ..problems import problem
from ..schemas import (
    ModelPrices,
    ModelPricesPage,
    OverrideRemoved,
    PriceChangePage,
    PriceOverride,
    PriceOverrideRequest,
    PriceUpdate,
    RepriceAnswer,
    RepriceRequest,
    UnpricedPage,
)

router = APIRouter(tags=["pricing"])
Limit = Annotated[int, Query(ge=1, le=1000)]
At = Annotated[str | None, Query(max_length=64, description="Prices in force at this time (RFC 3339 or a date, "
                                 "UTC); default now.")]
ADMINS = "Server admins only (`/problems/forbidden` for anyone else)."


def _time(text: str | None, name: str) -> datetime | None:
    """A time parameter read as the CLI reads it (bare dates in UTC)."""
    if not text:
        return None
    try:
        moment = parse_time_arg(text, UTC)
        format_utc(moment)  # out of range in UTC (year 1 with an offset ahead of it) fails here, not later
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc.message}", hint=exc.hint) from None
    except (OverflowError, ValueError):
        raise InvalidInput(f"{name}: {text!r} is out of range") from None
    return moment


@router.get("/v1/pricing/models", response_model=ModelPricesPage)
def list_models(actor: ActorDep, store: StoreDep, search: str | None = None, provider: str | None = None,
                at: At = None, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """The price catalog (USD per million tokens), searchable: `agentcost pricing list`."""
    models = pricing.list_models(store, actor, search=search, provider=provider, at=_time(at, "at"))
    return page([asdict(m) for m in models], cursor, limit)


@router.get("/v1/pricing/models/{model:path}", response_model=ModelPrices,
            responses={404: {"description": "No price for this model (`/problems/not-found`)."}})
def show_model(model: str, actor: ActorDep, store: StoreDep, provider: str | None = None,
               at: At = None) -> dict[str, Any]:
    """How a model id (as logs write it; it may contain `/`) resolves, with the rates and tiers in
    force: `agentcost pricing show`."""
    return asdict(pricing.show_model(store, actor, model, provider=provider, at=_time(at, "at")))


@router.post("/v1/pricing/overrides", status_code=201, response_model=PriceOverride,
             responses={403: {"description": ADMINS}})
def set_override(body: PriceOverrideRequest, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Override a model's rates (a negotiated price); rates left out keep the catalog's. New events
    use it at once; `POST /v1/pricing/reprice` applies it to stored ones."""
    return pricing.set_override(store, actor, provider=body.provider, model=body.model,
                                rates=body.rates.model_dump(), reason=body.reason,
                                effective_from=_time(body.effective_from, "effective_from"))


@router.delete("/v1/pricing/overrides/{provider}/{model:path}", response_model=OverrideRemoved,
               responses={403: {"description": ADMINS},
                          404: {"description": "No active override for the model (`/problems/not-found`)."}})
def unset_override(provider: str, model: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """End a model's manual override (it stays in the history)."""
    removed = pricing.unset_override(store, actor, provider=provider, model=model)
    return {"provider": provider, "model": model, "removed": removed}


@router.get("/v1/pricing/history", response_model=PriceChangePage)
def history(actor: ActorDep, store: StoreDep, provider: str | None = None, model: str | None = None,
            limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Price changes recorded by updates and overrides, oldest first: `agentcost pricing history`."""
    return page(pricing.history(store, actor, provider=provider, model=model), cursor, limit)


@router.get("/v1/pricing/missing", response_model=UnpricedPage)
def missing(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Models seen in events that have no price (stored unpriced, never as $0), most events first."""
    return page(pricing.missing(store, actor), cursor, limit)


@router.post("/v1/pricing/update", response_model=PriceUpdate, responses={
    403: {"description": ADMINS},
    422: {"description": "The configured source could not be read, or its snapshot was refused as broken "
                         "(`/problems/invalid-input`); the prices in force are unchanged."}})
def update(actor: ActorDep, store: StoreDep) -> Any:
    """Refresh the daemon's prices from its configured source (`pricing.url`): fetch, validate,
    record the changes and make the snapshot the active catalog. A snapshot with less than half
    the current models, or one that empties a provider, is refused."""
    from ...settings import Settings

    conf = Settings.load()
    try:
        result = pricing.update_prices(store, actor, source=conf["pricing.url"], timeout=conf["pricing.timeout"])
    except PricingError as exc:
        extra: dict[str, Any] = {"hint": exc.hint} if exc.hint else {}
        return problem("invalid-input", exc.message, **extra)
    return asdict(result)


@router.post("/v1/pricing/reprice", response_model=RepriceAnswer, responses={403: {"description": ADMINS}})
def reprice(body: RepriceRequest, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Recompute stored costs with the prices in force (provider-reported costs stay as reported),
    in one transaction; with `dry_run`, only say what would change."""
    since = _time(body.since, "since")
    return pricing.reprice(store, actor, since=format_utc(since) if since else None,
                           dry_run=body.dry_run).as_json()
