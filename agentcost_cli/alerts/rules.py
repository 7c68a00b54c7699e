"""Custom alert rules: a small, safe expression language, parsed (never `eval`-ed).

    cost > 50 and provider == "openai" per day
    tokens >= 2000000 and (model in ["gpt-4o", "o3"] or tag.team == "search") over 6 hours
    not (project == "sandbox") and cost > $12.50 per week

See `rules_parser` for the EBNF grammar and type rules. Decisions:

- Keywords (`and or not in per over`), field names and window units are case-insensitive;
  `to_text()` prints them in lower case. Tag names (`tag.Team`) and string values are
  case-sensitive and compared exactly.
- Numbers are `Decimal` (`50`, `12.5`); no sign, exponent or separators. `$50` is accepted as
  sugar only where it is compared with `cost` (which is USD); it is not kept in the tree.
- Windows: `per hour|day|week|month` (the current calendar bucket) or `over N hours|days` (rolling,
  N >= 1, at most 366 days). No window means `per day`.
- Limits: 2,000 characters, 32 levels of parentheses/`not`; both fail with a `RuleSyntaxError`
  carrying the column, like every other parse error.

Evaluation runs over one aggregate row (a Mapping): `cost`, `tokens`, `events` as Decimal or int
(a missing or None numeric field counts as 0, i.e. no usage); text fields as str; tags under `tags`
as a dict. A missing text field or tag is None: it is never `==` or `in` anything, and always
`!=` / `not in`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from agentcost_cli.alerts.rules_ast import (
    DEFAULT_WINDOW,
    FIELDS,
    NUMERIC_FIELDS,
    TEXT_FIELDS,
    And,
    Compare,
    Expr,
    Field,
    In,
    Not,
    Number,
    Operand,
    Or,
    String,
    Tag,
    Window,
    to_text,
)
from agentcost_cli.alerts.rules_lexer import MAX_DEPTH, MAX_RULE_LENGTH, RuleSyntaxError
from agentcost_cli.alerts.rules_parser import parse
from agentcost_cli.errors import InvalidInput

__all__ = [
    "FIELDS",
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "NUMERIC_FIELDS",
    "TEXT_FIELDS",
    "And",
    "Compare",
    "Expr",
    "Field",
    "In",
    "Not",
    "Number",
    "Or",
    "Rule",
    "RuleSyntaxError",
    "String",
    "Tag",
    "Window",
    "compile_rule",
    "evaluate",
    "filters",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed, type-checked rule: `expr` over `window`."""

    expr: Expr
    window: Window = DEFAULT_WINDOW

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        """True when the aggregate `row` matches. Raises InvalidInput for a non-numeric cost/tokens/events."""
        return evaluate(self.expr, row)

    def filters(self) -> dict[str, frozenset[str]]:
        """Text-field constraints any matching row must meet (see `filters`)."""
        return filters(self.expr)

    def to_text(self) -> str:
        """Canonical text, always with the window: `compile_rule(r.to_text()) == r`."""
        return f"{to_text(self.expr)} {self.window.to_text()}"


def compile_rule(text: str) -> Rule:
    """Parse and type-check a rule.

    Raises:
        RuleSyntaxError: (an InvalidInput) with `column N: ...`, the source line and a caret.
    """
    expr, window = parse(text)
    return Rule(expr, window)


def evaluate(expr: Expr, row: Mapping[str, Any]) -> bool:
    if isinstance(expr, Compare):
        return _compare(_value(expr.left, row), expr.op, _value(expr.right, row))
    if isinstance(expr, In):
        value = _value(expr.left, row)
        return (value in expr.values) != expr.negated
    if isinstance(expr, Not):
        return not evaluate(expr.operand, row)
    if isinstance(expr, And):
        return all(evaluate(item, row) for item in expr.items)
    return any(evaluate(item, row) for item in expr.items)


def _compare(left: object, op: str, right: object) -> bool:
    if op == "==":
        return left is not None and left == right
    if op == "!=":
        return left is None or right is None or left != right
    assert isinstance(left, Decimal) and isinstance(right, Decimal)  # the parser allows < > on numbers only
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def _value(operand: Operand, row: Mapping[str, Any]) -> Decimal | str | None:
    if isinstance(operand, Number | String):
        return operand.value
    if isinstance(operand, Tag):
        tags = row.get("tags") or {}
        tag = tags.get(operand.name)
        return None if tag is None else str(tag)
    raw = row.get(operand.name)
    if operand.name not in NUMERIC_FIELDS:
        return None if raw is None else str(raw)
    if raw is None:
        return Decimal(0)
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | float | str):
        raise InvalidInput(f"row field {operand.name} is not a number: {raw!r}")
    try:
        number = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInput(f"row field {operand.name} is not a number: {raw!r}") from None
    if not number.is_finite():
        raise InvalidInput(f"row field {operand.name} is not a finite number: {raw!r}")
    return number


def filters(expr: Expr) -> dict[str, frozenset[str]]:
    """Text-field constraints that every matching row must satisfy, for pushing into a store query.

    Only conjuncts at the top level count: the rule itself, or the items of a top-level `and`
    (nested `and`s inside it included). From those, `field == "x"` / `"x" == field` and
    `field in [..]` each allow a set of values; repeated constraints on one field intersect (an
    empty set means no row can match). Keys are field names (`provider`) or `tag.<name>`.
    `!=`, `not in`, `not`, `or` and numeric comparisons contribute nothing. A top-level `or` gives
    `{}`. The result is necessary, not sufficient: still run `evaluate()` on the rows it selects.
    """
    out: dict[str, frozenset[str]] = {}
    for conjunct in _conjuncts(expr):
        found = _constraint(conjunct)
        if found is not None:
            key, values = found
            out[key] = out[key] & values if key in out else values
    return out


def _conjuncts(expr: Expr) -> list[Expr]:
    if isinstance(expr, And):
        return [c for item in expr.items for c in _conjuncts(item)]
    return [expr]


def _constraint(expr: Expr) -> tuple[str, frozenset[str]] | None:
    if isinstance(expr, In) and not expr.negated:
        return _key(expr.left), frozenset(expr.values)
    if isinstance(expr, Compare) and expr.op == "==":
        left, right = expr.left, expr.right
        if isinstance(left, Field | Tag) and isinstance(right, String):
            return _key(left), frozenset({right.value})
        if isinstance(right, Field | Tag) and isinstance(left, String):
            return _key(right), frozenset({left.value})
    return None


def _key(field: Field | Tag) -> str:
    return field.name if isinstance(field, Field) else f"tag.{field.name}"
