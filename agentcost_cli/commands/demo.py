"""`agentcost demo`: build a sample store and show what agentcost reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import output
from ._common import QuietOpt, rollup_zone


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        ctx: typer.Context,
        events: Annotated[int, typer.Option("--events", min=1, max=2_000_000,
                                            help="How many sample events to generate.")] = 5000,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 7,
        db: Annotated[Path | None, typer.Option("--db", help="Where to build the demo store (default: demo.db "
                                                "in the data folder; your real store is never touched).",
                                                show_default=False)] = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Build a realistic sample store (a month of a small team) and print its report.

        Example: agentcost demo && agentcost --db "$(agentcost config path data)/demo.db" report --by model
        """
        from .. import paths
        from ..services.actor import LOCAL
        from ..services.demo import create_demo_store
        from ..services.reports import ReportRequest, build_report, parse_group_by
        from .report import _table

        target = db or paths.data_dir() / "demo.db"
        store, summary = create_demo_store(LOCAL, target, events=events, seed=seed, rollup_zone=rollup_zone(ctx))
        ctx.call_on_close(store.close)
        if not quiet:
            output.info(f"built a demo store with {summary.added:,} events at {target}")
        _table(build_report(store, LOCAL, ReportRequest(group_by=parse_group_by("model"))))
        if not quiet:
            output.info(f'explore it: agentcost --db "{target}" report --by day,project   '
                        f'(or: export AGENTCOST_DB="{target}")')
