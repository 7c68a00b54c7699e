"""One pass of the alerting work, for `agentcost alerts run` and `agentcost outbox dispatch`
(cron users without a daemon) and for the daemon's scheduled jobs."""

from __future__ import annotations

from typing import Any

from ..store.base import Store
from . import clock
from . import dispatch as dispatching
from .actor import Actor
from .evaluate import evaluate_all
from .permissions import Op, require


def evaluate(store: Store) -> dict[str, Any]:
    """Budgets, forecasts and rules (every minute in the daemon)."""
    return evaluate_all(store, now=clock.now(), zone=store.rollup_zone).to_dict()


def run_alerts(store: Store, actor: Actor) -> dict[str, Any]:
    """Evaluate budgets, rules and anomalies once (operators: it reads every project)."""
    from .anomalies import scan_anomalies

    require(store, actor, Op.STORE_ADMIN)
    report = evaluate(store)
    report["anomalies"] = scan_anomalies(store)
    return report


def dispatch(store: Store, actor: Actor, *, limit: int = 50) -> dict[str, Any]:
    """Deliver what is due now, once each."""
    require(store, actor, Op.STORE_ADMIN)
    return dispatching.dispatch_once(store, limit=limit).to_dict()
