"""Evaluating budgets and rules against the store, firing what crossed (see `alerting.fire`).

Dedupe keys, which are the persisted alert state:
- `budget:<id>:<amount>:<period key>:<threshold>`: each threshold once per period. The
  amount is part of the key, so after a budget is raised its thresholds can fire again
  against the new amount.
- `budget:<id>:<amount>:<period key>:forecast`: the forecast warning once per period, and
  only while no 100% threshold has fired.
- `budget:<id>:<amount>:<period key>:recovered`: the all-clear, sent when a new period
  starts after a period in which a threshold fired, or when the budget was raised above
  what had fired.
- `rule:<id>:<window key>:<group>`: a rule once per window and group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from ..alerts import periods
from ..alerts.rule_query import group_dimensions, rule_window, tag_filters
from ..alerts.rules import compile_rule
from ..errors import AgentcostError
from ..models import TOKEN_FIELDS, format_usd, nanos_to_usd
from ..notify.notice import Notice, Severity
from ..store.base import AggregateQuery, EventFilter, Store
from ..timeutil import format_utc
from . import alerting, budgets, clock

_SUMMED_TOKENS = tuple(f for f in TOKEN_FIELDS if f != "reasoning_tokens")  # reasoning is part of output


@dataclass
class EvaluationReport:
    budgets: int = 0
    rules: int = 0
    fired: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"budgets": self.budgets, "rules": self.rules, "fired": self.fired, "errors": self.errors}


def _usd(nanos: int) -> str:
    return "$" + format(nanos_to_usd(nanos).quantize(Decimal("0.01")), ",f")


def _scope_text(row: dict[str, Any]) -> str:
    if row["scope_kind"] == "global":
        return "all usage"
    return f"{row['scope_kind']} {row['scope_value']}"


def _budget_data(status: budgets.BudgetStatus) -> dict[str, Any]:
    row, win = status.budget, status.window
    return {
        "budget": row["name"],
        "scope": {"kind": row["scope_kind"], "value": row["scope_value"]},
        "period": {"kind": win.spec.kind, "key": win.key, "start": win.start.isoformat(), "end": win.end.isoformat()},
        "amount_usd": format_usd(status.amount_nanos),
        "spent_usd": format_usd(status.spent_nanos),
        "percent": str(budgets.thresholds.percent(status.spent_nanos, status.amount_nanos)),
        "forecast_usd": format_usd(status.forecast.projected_nanos) if status.forecast else None,
    }


def _budget_fields(status: budgets.BudgetStatus) -> tuple[tuple[str, str], ...]:
    row, win = status.budget, status.window
    share = budgets.thresholds.percent(status.spent_nanos, status.amount_nanos)
    fields = [("Budget", f"{_usd(status.amount_nanos)} per {row['period']} ({row['zone']})"),
              ("Spent", f"{_usd(status.spent_nanos)} ({share}%)"),
              ("Scope", _scope_text(row)), ("Period", f"{win.key}, {periods.describe_reset(win, win.now)}")]
    if status.forecast:
        fields.append(("Forecast", f"{_usd(status.forecast.projected_nanos)} by period end"))
    return tuple(fields)


def _channels(row: dict[str, Any]) -> list[str]:
    return list(orjson.loads(row["channels_json"]))


def _fire_budget(store: Store, status: budgets.BudgetStatus, suffix: str, notice: Notice,
                 report: EvaluationReport, *, silent: bool = False) -> None:
    row = status.budget
    key = f"budget:{row['id']}:{row['amount_nanos']}:{status.window.key}:{suffix}"
    alert_id = alerting.fire(store, dedupe_key=key, notice=notice, channel_names=_channels(row),
                             project_id=row["project_id"], source=f"budget:{row['name']}", silent=silent)
    if alert_id is not None:
        report.fired.append({"id": alert_id, "kind": notice.type, "source": row["name"], "key": key})


def _threshold_notice(status: budgets.BudgetStatus, threshold: int, now: str) -> Notice:
    name = status.budget["name"]
    severity: Severity = "critical" if threshold >= 100 else "warning" if threshold >= 80 else "info"
    spent, amount = _usd(status.spent_nanos), _usd(status.amount_nanos)
    return Notice(
        type="budget.threshold_crossed", title=f"Budget '{name}' passed {threshold}%",
        summary=f"Budget '{name}' has used {spent} of {amount} this {status.budget['period']} "
                f"({status.window.key}), passing its {threshold}% threshold.",
        severity=severity, occurred_utc=now, fields=_budget_fields(status),
        data={**_budget_data(status), "threshold": threshold})


def evaluate_budget(store: Store, row: dict[str, Any], now: datetime, report: EvaluationReport) -> None:
    status = budgets.measure(store, row, now)
    stamp = format_utc(now)
    base = f"budget:{row['id']}:{row['amount_nanos']}:"
    crossed = status.crossed
    # Several thresholds passed at once (a budget created below what is spent, a burst between
    # two evaluations): the highest is sent; the lower ones are recorded silently, so they
    # never fire later in the period either.
    fresh = [t for t in crossed if not store.alert_exists(f"{base}{status.window.key}:{t}")]
    for threshold in fresh:
        _fire_budget(store, status, str(threshold), _threshold_notice(status, threshold, stamp), report,
                     silent=threshold != fresh[-1])
    # Only while still below the amount: `100 not in crossed` alone let a budget without a 100%
    # threshold (e.g. "50,80") warn that it "is on course to overspend" after it had overspent.
    if (row["forecast"] and status.forecast and status.forecast.method == "linear"
            and budgets.forecasting.exceeds(status.forecast, status.amount_nanos) and 100 not in crossed
            and status.spent_nanos < status.amount_nanos):
        name = row["name"]
        notice = Notice(
            type="budget.forecast_exceeded", title=f"Budget '{name}' is on course to overspend",
            summary=f"At this period's rate, budget '{name}' will reach "
                    f"{_usd(status.forecast.projected_nanos)} of {_usd(status.amount_nanos)} by the end of "
                    f"{status.window.key}.",
            severity="warning", occurred_utc=stamp, fields=_budget_fields(status), data=_budget_data(status))
        _fire_budget(store, status, "forecast", notice, report)
    # Recovery: a new period after one that fired, or a raised amount above what fired.
    reason = None
    spec = periods.parse_period(row["period"])
    if not spec.is_rolling and not crossed:
        previous = periods.previous_key(spec, row["zone"], now)
        if any(store.alert_exists(f"{base}{previous}:{t}") for t in status.thresholds):
            reason = "new_period"
    if reason is None and not crossed and _fired_under_other_amount(store, row, status):
        reason = "budget_raised"
    if reason:
        name = row["name"]
        notice = Notice(
            type="budget.recovered", title=f"Budget '{name}' is back within its thresholds",
            summary=(f"A new period ({status.window.key}) has started for budget '{name}': "
                     if reason == "new_period" else f"Budget '{name}' was raised to {_usd(status.amount_nanos)}: ")
                    + f"{_usd(status.spent_nanos)} spent so far.",
            severity="info", occurred_utc=stamp, fields=_budget_fields(status),
            data={**{k: v for k, v in _budget_data(status).items() if k in
                     ("budget", "scope", "period", "amount_usd", "spent_usd")}, "reason": reason})
        _fire_budget(store, status, "recovered", notice, report)


def _fired_under_other_amount(store: Store, row: dict[str, Any], status: budgets.BudgetStatus) -> bool:
    """Whether a threshold fired this period while the budget had another (smaller) amount."""
    # Every page, not only the newest 50: with other budgets firing since, this budget's own
    # alert fell past a single page and the raise never sent its recovery.
    project_ids = None if row["project_id"] is None else (int(row["project_id"]),)
    before_id: int | None = None
    while True:
        page = store.list_alerts(kind_prefix="budget.threshold_crossed", limit=500, before_id=before_id,
                                 since=format_utc(status.window.start), project_ids=project_ids)
        for alert in page:
            parts = str(alert.get("dedupe_key", "")).split(":")
            if (len(parts) == 5 and parts[1] == str(row["id"]) and parts[3] == status.window.key
                    and int(parts[2]) < int(row["amount_nanos"])):
                return True
        if len(page) < 500:
            return False
        before_id = int(page[-1]["id"])


def evaluate_rule(store: Store, row: dict[str, Any], now: datetime, zone: str, report: EvaluationReport) -> None:
    rule = compile_rule(row["expression"])
    win = rule_window(rule.window, zone, now)
    pushed = rule.filters()
    project = store.get_project_by_id(int(row["project_id"])) if row["project_id"] is not None else None
    projects = (str(project["slug"]),) if project else tuple(sorted(pushed.get("project", ())))
    flt = EventFilter(
        since=format_utc(win.start), until=format_utc(min(win.end, now)), projects=projects,
        providers=tuple(sorted(pushed.get("provider", ()))), models=tuple(sorted(pushed.get("model", ()))),
        keys=tuple(sorted(pushed.get("key", ()))), users=tuple(sorted(pushed.get("user", ()))),
        tags=tag_filters(rule))
    dims = group_dimensions(rule)
    if project and "project" in pushed and str(project["slug"]) not in pushed["project"]:
        return  # a project's rule that names another project can never match
    groups = store.aggregate(AggregateQuery(filter=flt, dimensions=dims))
    tags = dict(flt.tags)
    rows = [(g.keys, g.sums) for g in groups] or ([((), {})] if not dims else [])
    for keys, sums in rows:
        values = dict(zip(dims, keys, strict=True))
        nanos = int(sums.get("cost_nanos") or 0)
        tokens = sum(int(sums.get(f) or 0) for f in _SUMMED_TOKENS)
        events = int(sums.get("events") or 0)
        candidate = {**values, "cost": nanos_to_usd(nanos), "tokens": tokens, "events": events, "tags": tags}
        if not rule.evaluate(candidate):
            continue
        group = ",".join(f"{d}={v}" for d, v in values.items())
        name = row["name"]
        where = f" for {group.replace(',', ', ')}" if group else ""
        notice = Notice(
            type="rule.triggered", title=f"Alert rule '{name}' triggered{where}"[:150],
            summary=f"Rule '{name}' ({row['expression']}) matched{where}: {_usd(nanos)}, {tokens:,} tokens, "
                    f"{events:,} events in the window {win.key}.",
            severity="warning", occurred_utc=format_utc(now),
            fields=(("Rule", row["expression"]), ("Cost", _usd(nanos)), ("Tokens", f"{tokens:,}"),
                    ("Events", f"{events:,}"), ("Window", win.key)) + ((("Group", group),) if group else ()),
            data={"rule": name, "expression": row["expression"], "window": rule.window.to_text(),
                  "window_start": win.start.isoformat(), "window_end": win.end.isoformat(),
                  "values": {"cost_usd": format_usd(nanos), "tokens": tokens, "events": events},
                  "filters": {**values, **{f"tag.{k}": v for k, v in tags.items()}}})
        key = f"rule:{row['id']}:{win.key}:{group}"
        alert_id = alerting.fire(store, dedupe_key=key, notice=notice, channel_names=_channels(row),
                                 project_id=row["project_id"], source=f"rule:{name}")
        if alert_id is not None:
            report.fired.append({"id": alert_id, "kind": notice.type, "source": name, "key": key})


def evaluate_all(store: Store, *, now: datetime | None = None, zone: str = "UTC") -> EvaluationReport:
    """One pass over every budget and enabled rule. A broken one is reported and skipped;
    the others still run."""
    now = now or clock.now()
    report = EvaluationReport()
    for row in store.list_budgets():
        report.budgets += 1
        try:
            evaluate_budget(store, row, now, report)
        except AgentcostError as exc:
            report.errors.append(f"budget {row['name']}: {exc.message}")
        except (ValueError, KeyError, TypeError) as exc:
            # A stored row the services would never write (amount 0, bad JSON, a missing field)
            # raised past AgentcostError and stopped every later budget and rule.
            report.errors.append(f"budget {row['name']}: {type(exc).__name__}: {exc}")
    for row in store.list_rules():
        if not row["enabled"]:
            continue
        report.rules += 1
        try:
            evaluate_rule(store, row, now, zone, report)
        except AgentcostError as exc:
            report.errors.append(f"rule {row['name']}: {exc.message}")
        except (ValueError, KeyError, TypeError) as exc:  # as for budgets: one bad row stops nothing else
            report.errors.append(f"rule {row['name']}: {type(exc).__name__}: {exc}")
    return report
