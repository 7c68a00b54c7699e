"""Daily spend as bars (textual-plotext), over the last 30 or 90 local days."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from textual_plotext import PlotextPlot


class SpendChart(PlotextPlot):
    def plot_days(self, daily: list[tuple[date, Decimal]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        labels = [d.strftime("%m-%d") for d, _ in daily]
        # Floats only for drawing the bars: every figure printed anywhere is exact.
        values = [float(v) for _, v in daily]
        plt.bar([float(i) for i in range(len(daily))], values, marker="hd")
        step = max(1, len(daily) // 6)
        positions = list(range(0, len(daily), step))
        plt.xticks([float(i) for i in positions], [labels[i] for i in positions])
        plt.title(f"Daily spend (USD), last {len(daily)} days")
        self.refresh()
