"""The alert-rule syntax tree: frozen dataclasses plus the canonical printer.

`to_text(expr)` prints keywords and fields in lower case, strings in double quotes, numbers in
plain decimal notation (no `$`, no exponent), and parentheses only where precedence needs them,
so `parse(to_text(e)) == e` for every well-typed tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

NUMERIC_FIELDS = ("cost", "tokens", "events")
TEXT_FIELDS = ("provider", "model", "project", "key", "user")
FIELDS = NUMERIC_FIELDS + TEXT_FIELDS

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
WindowUnit = Literal["hour", "day", "week", "month"]


@dataclass(frozen=True, slots=True)
class Field:
    """A built-in field: one of NUMERIC_FIELDS or TEXT_FIELDS (always lower case)."""

    name: str

    @property
    def numeric(self) -> bool:
        return self.name in NUMERIC_FIELDS


@dataclass(frozen=True, slots=True)
class Tag:
    """`tag.<name>`: a text field; the tag name keeps its case."""

    name: str
    numeric = False


@dataclass(frozen=True, slots=True)
class Number:
    value: Decimal


@dataclass(frozen=True, slots=True)
class String:
    value: str


Operand = Field | Tag | Number | String


@dataclass(frozen=True, slots=True)
class Compare:
    left: Operand
    op: CompareOp
    right: Operand


@dataclass(frozen=True, slots=True)
class In:
    """`left in [values]`, or `left not in [values]` when `negated`."""

    left: Field | Tag
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]  # two or more


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]  # two or more


Expr = Compare | In | Not | And | Or


@dataclass(frozen=True, slots=True)
class Window:
    """`per <unit>` (calendar bucket: this hour/day/week/month) when not `rolling`;
    `over <count> hours|days` (a rolling window ending now) when `rolling`."""

    unit: WindowUnit = "day"
    count: int = 1
    rolling: bool = False

    @property
    def duration(self) -> timedelta | None:
        """The window's length; None for `per month` (months differ in length)."""
        if self.unit == "month":
            return None
        hours = {"hour": 1, "day": 24, "week": 24 * 7}[self.unit]
        return timedelta(hours=hours * self.count)

    def to_text(self) -> str:
        if not self.rolling:
            return f"per {self.unit}"
        return f"over {self.count} {self.unit}{'' if self.count == 1 else 's'}"


DEFAULT_WINDOW = Window()


def quote(value: str) -> str:
    """A double-quoted literal the lexer reads back as `value`."""
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def operand_text(operand: Operand) -> str:
    if isinstance(operand, Field):
        return operand.name
    if isinstance(operand, Tag):
        return f"tag.{operand.name}"
    if isinstance(operand, Number):
        return format(operand.value, "f")
    return quote(operand.value)


def to_text(expr: Expr) -> str:
    """Canonical text for `expr` (without a window clause)."""
    if isinstance(expr, Compare):
        return f"{operand_text(expr.left)} {expr.op} {operand_text(expr.right)}"
    if isinstance(expr, In):
        values = ", ".join(quote(v) for v in expr.values)
        return f"{operand_text(expr.left)} {'not in' if expr.negated else 'in'} [{values}]"
    if isinstance(expr, Not):
        inner = to_text(expr.operand)
        return f"not ({inner})" if isinstance(expr.operand, And | Or) else f"not {inner}"
    if isinstance(expr, And):
        return " and ".join(f"({to_text(i)})" if isinstance(i, And | Or) else to_text(i) for i in expr.items)
    return " or ".join(f"({to_text(i)})" if isinstance(i, Or) else to_text(i) for i in expr.items)
