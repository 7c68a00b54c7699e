"""How a custom rule becomes a store query: which window it covers, which text fields it
groups by, and which filters can be pushed into the query.

A rule's numeric fields (cost, tokens, events) are sums over the window; its text fields
(provider, model, project, key, user) pick the group they are summed in. So
`cost > 50 and provider == "openai" per day` sums today's events per provider, keeps the
openai group, and fires when that sum passes $50. Tags are not a grouping dimension of the
store: a rule may use a tag only as a top-level `tag.NAME == "value"` constraint, which
becomes a filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import InvalidInput
from .periods import parse_period, window
from .rules import Rule
from .rules_ast import And, Compare, Expr, Field, In, Not, Or, Tag, Window

# A rule field and the store dimension that holds it.
DIMENSION = {"provider": "provider", "model": "model", "project": "project", "key": "key", "user": "user"}


@dataclass(frozen=True)
class RuleWindow:
    start: datetime
    end: datetime  # exclusive; for the current calendar bucket, its end (the query stops at now)
    key: str  # names this window instance: the rule fires at most once per key and group


def _operands(expr: Expr) -> list[Field | Tag]:
    if isinstance(expr, Compare):
        return [o for o in (expr.left, expr.right) if isinstance(o, Field | Tag)]
    if isinstance(expr, In):
        return [expr.left] if isinstance(expr.left, Field | Tag) else []
    if isinstance(expr, Not):
        return _operands(expr.operand)
    if isinstance(expr, And | Or):
        return [o for item in expr.items for o in _operands(item)]
    return []


def group_dimensions(rule: Rule) -> tuple[str, ...]:
    """The text fields the rule reads, as store dimensions, in a stable order."""
    names = {o.name for o in _operands(rule.expr) if isinstance(o, Field) and o.name in DIMENSION}
    return tuple(DIMENSION[n] for n in DIMENSION if n in names)


def tag_filters(rule: Rule) -> tuple[tuple[str, str], ...]:
    """The rule's tag constraints as (name, value) filters.

    Raises:
        InvalidInput: a tag used other than as a top-level `tag.NAME == "value"`.
    """
    pushed = rule.filters()
    out: list[tuple[str, str]] = []
    for operand in _operands(rule.expr):
        if not isinstance(operand, Tag):
            continue
        values = pushed.get(f"tag.{operand.name}")
        if values is None or len(values) != 1:
            raise InvalidInput(
                f"tag.{operand.name} can be used only as a top-level `tag.{operand.name} == \"value\"`",
                hint="tags are not a grouping dimension; each rule may pin one value per tag")
        pair = (operand.name, next(iter(values)))
        if pair not in out:
            out.append(pair)
    return tuple(out)


def rule_window(win: Window, zone: str, now: datetime) -> RuleWindow:
    """The window instance a rule covers at `now`. Calendar windows are buckets in `zone`;
    rolling ones end now and fire at most once per window length."""
    now = now.astimezone(UTC)
    if win.rolling:
        assert win.duration is not None
        length = win.duration
        slot = int(now.timestamp() // length.total_seconds())
        return RuleWindow(now - length, now, f"over{win.count}{win.unit[0]}-{slot}")
    if win.unit == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return RuleWindow(start, start + timedelta(hours=1), start.strftime("%Y-%m-%dT%H"))
    period = window(parse_period(win.unit), zone, now)
    return RuleWindow(period.start, period.end, period.key)
