"""Budget gauges: a bar per budget with its threshold marks, and the state in words (ok,
warning, exceeded) beside the colour, so the gauge reads the same without colour."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.widgets import Static

from ..formatting import money

_STYLE = {"ok": "green", "warning": "yellow", "exceeded": "bold red"}
_MARK = "┃"


def gauge_bar(percent: Decimal, thresholds: list[int], width: int) -> str:
    """`width` cells filled to `percent` (clipped at 100), with a mark at each threshold below 100."""
    filled = min(int(percent * width / 100), width)
    cells = ["█" if i < filled else "░" for i in range(width)]
    for level in thresholds:
        if 0 < level < 100:
            cells[min(width - 1, int(level * width / 100))] = _MARK
    return "".join(cells)


def gauge_line(budget: dict[str, Any], *, width: int = 20) -> Text:
    """One budget as a line: name, bar, %, spent / amount, state, reset, forecast."""
    pct = Decimal(budget.get("percent") or 0)
    state = str(budget.get("state") or "ok")
    line = Text()
    line.append(f"{budget['name'][:18]:<18} ")
    line.append(gauge_bar(pct, list(budget.get("thresholds") or []), width), style=_STYLE.get(state, ""))
    line.append(f" {pct:>5}% ")
    line.append(f"{money(budget.get('spent_usd'))} / {money(budget.get('amount_usd'))} {budget.get('period', '')} ")
    line.append(state.upper() if state != "ok" else "ok", style=_STYLE.get(state, ""))
    if budget.get("forecast_usd"):
        line.append(f"  forecast {money(budget['forecast_usd'])}", style="italic")
    if budget.get("resets"):
        line.append(f"  {budget['resets']}", style="dim")
    return line


class BudgetGauges(Static):
    """Every budget's gauge, worst first; a hint when there are none."""

    def show_budgets(self, budgets: list[dict[str, Any]]) -> None:
        if not budgets:
            self.update(Text("No budgets yet: add one on the Budgets screen (4) or with "
                             "`agentcost budgets create`.", style="dim"))
            return
        order = {"exceeded": 0, "warning": 1}
        ranked = sorted(budgets, key=lambda b: (order.get(str(b.get("state")), 2), -Decimal(b.get("percent") or 0)))
        self.update(Text("\n").join(gauge_line(b) for b in ranked))
