"""`agentcost export events`: stream raw events as CSV or JSON Lines."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output
from ._common import (
    CsvOpt,
    KeyFilterOpt,
    ModelFilterOpt,
    OutputOpt,
    ProjectFilterOpt,
    ProviderFilterOpt,
    QuietOpt,
    SinceOpt,
    TagFilterOpt,
    TzOpt,
    UntilOpt,
    UserFilterOpt,
    backend,
    binary_target,
    event_filter,
    one_format,
    text_target,
)

export_app = typer.Typer(help="Export stored data for spreadsheets and pipelines.", no_args_is_help=True)


@export_app.command("events")
def export_events(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tz: TzOpt = None,
    project: ProjectFilterOpt = None,
    provider: ProviderFilterOpt = None,
    model: ModelFilterOpt = None,
    key: KeyFilterOpt = None,
    user: UserFilterOpt = None,
    tag: TagFilterOpt = None,
    csv_: CsvOpt = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="JSON Lines, one event per line (the default).")] = False,
    out: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Stream raw events in time order, in constant memory; JSONL re-imports with `agentcost ingest`.

    Example: agentcost export events --since 2026-11-01 --csv -o november.csv
    """
    from ..services.export import EXPORT_COLUMNS
    fmt = one_format(csv=csv_, jsonl=jsonl) or "jsonl"
    flt = event_filter(ctx, since=since, until=until, tz=tz, project=project, provider=provider, model=model,
                       key=key, user=user, tag=tag)
    rows = backend(ctx).export_events(flt)
    if fmt == "csv":
        with text_target(out) as target:
            count = output.write_csv(EXPORT_COLUMNS, rows, target)
    else:
        with binary_target(out) as btarget:
            count = output.write_jsonl(rows, btarget)
    if not quiet and out is not None and str(out) != "-":
        output.info(f"wrote {count:,} event(s) to {out}")
