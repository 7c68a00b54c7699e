"""Alerting: `/v1/budgets*`, `/v1/rules*`, `/v1/alerts*` and `/v1/jobs`, the HTTP form of
`agentcost budgets|alerts ...` and `agentcost daemon jobs`; channels and deliveries are in
routes/channels.py, included here.

The services decide (a project's admins manage its budgets, rules and mutes, its readers
read them; store-wide ones, evaluating every project and the job list are for operators);
the routes parse, call them with the signed-in actor (a user or an API key) and answer with
what they returned, so `RemoteAlerts` gives the CLI what `LocalAlerts` gives it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ...services import alert_run, alerting, budgets, jobs, rules
from ..deps import ActorDep, StoreDep
from ..paging import page
from ..schemas_alerts import (
    AlertPage,
    AlertRun,
    Budget,
    BudgetCreate,
    BudgetPage,
    BudgetUpdate,
    JobPage,
    Mute,
    MutePage,
    MuteRequest,
    Rule,
    RuleCreate,
    RulePage,
    RuleUpdate,
    Unmuted,
)
from . import channels as channel_routes
from .channels import id_cursor, id_page

router = APIRouter()
router.include_router(channel_routes.router)
Limit = Annotated[int, Query(ge=1, le=1000)]
MANAGERS = "The project's admins, or operators for store-wide objects (`/problems/forbidden`)."
OPERATORS = "Server admins only (`/problems/forbidden` for anyone else)."
NOT_FOUND = {"description": "No such object, or not one you may see (`/problems/not-found`)."}
MAX_MUTE_SECONDS = 1e10  # far past the service's one-year limit, short of timedelta's range
# BudgetCreate/BudgetUpdate field -> the service's keyword
_BUDGET_ARGS = {"thresholds": "thresholds_text", "channels": "channel_names"}


def _budget_fields(body: BudgetCreate | BudgetUpdate, *, given: bool) -> dict[str, Any]:
    """The body as the service's keywords: the fields sent (create: the service's defaults apply to
    the rest), or the fields not null (update: null changes nothing)."""
    raw = body.model_dump(exclude_unset=True) if given else body.model_dump(exclude_none=True)
    return {_BUDGET_ARGS.get(k, k): v for k, v in raw.items()}


# -- budgets -----------------------------------------------------------------------------------
@router.get("/v1/budgets", response_model=BudgetPage, tags=["budgets"])
def list_budgets(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Every budget you may see, with its spend this period: `agentcost budgets list`."""
    return page(budgets.list_budgets(store, actor), cursor, limit)


@router.post("/v1/budgets", status_code=201, response_model=Budget, tags=["budgets"],
             responses={403: {"description": MANAGERS}, 409: {"description": "The name is taken."}})
def create_budget(body: BudgetCreate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Create a budget; the answer has its spend now."""
    return budgets.create_budget(store, actor, **_budget_fields(body, given=True))


@router.get("/v1/budgets/{name}", response_model=Budget, tags=["budgets"], responses={404: NOT_FOUND})
def budget_status(name: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """One budget's spend against its amount now: `agentcost budgets status NAME`."""
    return budgets.budget_status(store, actor, name)


@router.patch("/v1/budgets/{name}", response_model=Budget, tags=["budgets"],
              responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def update_budget(name: str, body: BudgetUpdate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Change a budget: only the fields given (at least one)."""
    return budgets.update_budget(store, actor, name, **_budget_fields(body, given=False))


@router.delete("/v1/budgets/{name}", status_code=204, response_class=Response, tags=["budgets"],
               responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def delete_budget(name: str, actor: ActorDep, store: StoreDep) -> Response:
    """Delete a budget (its past alerts stay)."""
    budgets.delete_budget(store, actor, name)
    return Response(status_code=204)


# -- rules -------------------------------------------------------------------------------------
@router.get("/v1/rules", response_model=RulePage, tags=["rules"])
def list_rules(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Every alert rule you may see: `agentcost alerts rules list`."""
    return page(rules.list_rules(store, actor), cursor, limit)


@router.post("/v1/rules", status_code=201, response_model=Rule, tags=["rules"],
             responses={403: {"description": MANAGERS}, 409: {"description": "The name is taken."},
                        422: {"description": "The expression does not parse; the detail names the column."}})
def create_rule(body: RuleCreate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Create a rule such as `cost > 50 and provider == "openai" per day`."""
    return rules.create_rule(store, actor, name=body.name, expression=body.expression, project=body.project,
                             channel_names=body.channels)


@router.patch("/v1/rules/{name}", response_model=Rule, tags=["rules"],
              responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def update_rule(name: str, body: RuleUpdate, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Change a rule's expression or channels, or enable or disable it."""
    return rules.update_rule(store, actor, name, expression=body.expression, channel_names=body.channels,
                             enabled=body.enabled)


@router.delete("/v1/rules/{name}", status_code=204, response_class=Response, tags=["rules"],
               responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def delete_rule(name: str, actor: ActorDep, store: StoreDep) -> Response:
    rules.delete_rule(store, actor, name)
    return Response(status_code=204)


# -- alerts and mutes --------------------------------------------------------------------------
@router.get("/v1/alerts", response_model=AlertPage, tags=["alerts"], responses={404: NOT_FOUND})
def list_alerts(actor: ActorDep, store: StoreDep,
                since: Annotated[str | None, Query(max_length=64, description="Fired at or after (RFC 3339 UTC).")]
                = None,
                kind: Annotated[str | None, Query(max_length=100, description="A kind or its prefix, e.g. budget.")]
                = None,
                project: str | None = None, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """Fired alerts, newest first: `agentcost alerts list`. The cursor is the id of the last alert
    of the previous page."""
    rows = alerting.list_alerts(store, actor, since=since, kind=kind, project=project, limit=limit,
                                before_id=id_cursor(cursor))
    return id_page(rows, limit)


@router.get("/v1/alerts/mutes", response_model=MutePage, tags=["alerts"])
def list_mutes(actor: ActorDep, store: StoreDep, limit: Limit = 100, cursor: str | None = None) -> dict[str, Any]:
    """The mutes in force that you could change."""
    return page(alerting.list_mutes(store, actor), cursor, limit)


@router.put("/v1/alerts/mutes/{target:path}", response_model=Mute, tags=["alerts"],
            responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def mute(target: str, body: MuteRequest, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Mute `budget:NAME`, `rule:NAME`, `channel:NAME`, `project:SLUG`, `kind:KIND` or `all` for
    `seconds`: alerts are still recorded (marked muted) but nothing is sent."""
    seconds = max(-MAX_MUTE_SECONDS, min(MAX_MUTE_SECONDS, body.seconds))  # the service says what is too long
    return alerting.mute(store, actor, target, duration=timedelta(seconds=seconds), reason=body.reason)


@router.delete("/v1/alerts/mutes/{target:path}", response_model=Unmuted, tags=["alerts"],
               responses={403: {"description": MANAGERS}, 404: NOT_FOUND})
def unmute(target: str, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """End a mute; `removed` says whether there was one."""
    return {"target": target, "removed": alerting.unmute(store, actor, target)}


@router.post("/v1/alerts/run", response_model=AlertRun, tags=["alerts"], responses={403: {"description": OPERATORS}})
def run_alerts(request: Request, actor: ActorDep, store: StoreDep) -> dict[str, Any]:
    """Evaluate budgets, rules and anomalies once now (the scheduler does it every minute)."""
    return alert_run.run_alerts(store, actor)


# -- the scheduler -----------------------------------------------------------------------------
@router.get("/v1/jobs", response_model=JobPage, tags=["jobs"], responses={403: {"description": OPERATORS}})
def list_jobs(request: Request, actor: ActorDep, store: StoreDep, limit: Limit = 100,
              cursor: str | None = None) -> dict[str, Any]:
    """The scheduled jobs with their last run (from the store, whichever daemon ran it) and their
    next one: this daemon's own timer when it runs the scheduler. `agentcost daemon jobs`."""
    scheduler = request.app.state.scheduler
    if scheduler is None:
        rows = jobs.list_jobs(store, actor)
    else:
        rows = jobs.list_jobs(store, actor, specs=list(scheduler.specs.values()), zone=scheduler.zone)
        timers = scheduler.next_runs()
        rows = [{**row, "next_run_utc": timers.get(row["job"]) or row["next_run_utc"]} for row in rows]
    return page(rows, cursor, limit)
