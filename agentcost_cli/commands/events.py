"""`agentcost events list|show`: browse stored events, newest first, and see what one cost, component by
component."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import (
    JsonOpt,
    KeyFilterOpt,
    ModelFilterOpt,
    ProjectFilterOpt,
    ProviderFilterOpt,
    SinceOpt,
    TagFilterOpt,
    TzOpt,
    UntilOpt,
    UserFilterOpt,
    backend,
    event_filter,
)

events_app = typer.Typer(help="Browse stored events and see how one was priced.", no_args_is_help=True)

_COMPONENT = {"cache_read": "cache read", "cache_write": "cache write", "cache_write_1h": "cache write 1h"}


def _cost(text: str | None) -> str:
    return "unpriced" if text is None else text


@events_app.command("list")
def events_list(
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
    search: Annotated[str | None, typer.Option("--search", "-s", help="Only events whose model, session, user, "
                                               "agent, id or key id contains this text (any case).",
                                               show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="Events per page.")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Resume after the previous page (the cursor it "
                                               "printed).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Stored events, newest first, a page at a time; `agentcost events show PROJECT ID` prices one.

    Example: agentcost events list --since 1d --model gpt-4o --search alice
    """
    flt = event_filter(ctx, since=since, until=until, tz=tz, project=project, provider=provider, model=model,
                       key=key, user=user, tag=tag)
    page = backend(ctx).list_events(flt, limit=limit, cursor=cursor, search=search)
    if json_:
        output.write_json(page)
    elif not page["events"]:
        output.info("no events match" if cursor is None else "no more events")
    else:
        output.render_table(
            ["time (UTC)", "project", "provider", "model", "input", "output", "cost (USD)", "user", "id"],
            ([r["timestamp"][:19].replace("T", " "), r["project"], r["provider"], r["model"],
              f"{r['input_tokens'] + r['cache_read_tokens'] + r['cache_write_tokens'] + r['cache_write_1h_tokens']:,}",
              f"{r['output_tokens']:,}", _cost(r["cost_usd"]), r["user"] or "-", r["id"]] for r in page["events"]),
            right=["input", "output", "cost (USD)"],
            droppable=["user", "provider", "input", "output", "project", "id"],
        )
    if page["next_cursor"]:
        output.info(f"more events: run the same command with --cursor {page['next_cursor']}")


@events_app.command("show")
def events_show(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The event's project.", show_default=False)],
    event_id: Annotated[str, typer.Argument(help="The event id (the `id` column of `agentcost events list`).",
                                            show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """One event with what its tokens cost at today's prices, component by component.

    Example: agentcost events show web req_01J9Z6
    """
    event = backend(ctx).show_event(project, event_id)
    if json_:
        output.write_json(event)
        return
    con = output.console()
    fields: list[tuple[str, Any]] = [
        ("Event", event["id"]), ("Project", event["project"]), ("Time", event["timestamp"]),
        ("Model", f"{event['provider']}/{event['model']}"
         + (f" (priced as {event['model_ref']})" if event["model_ref"] and event["model_ref"] != event["model"]
            else "")),
        ("User", event["user"]), ("Session", event["session"]), ("Agent", event["agent"]), ("Key", event["key_id"]),
        ("Tags", ", ".join(f"{k}={v}" for k, v in event["tags"].items()) if isinstance(event["tags"], dict)
         else event["tags"]),
        ("Requests", event["requests"]), ("Latency (ms)", event["latency_ms"]),
        ("Cost (USD)", f"{_cost(event['cost_usd'])} ({event['cost_source']}"
         + (f", pricing revision {event['pricing_revision']})" if event["pricing_revision"] is not None else ")")),
        ("Reported cost (USD)", event["reported_cost_usd"]), ("Source", event["source_format"]),
        ("Ingested", event["ingested_at"]),
    ]
    for label, value in fields:
        if value is not None and value != "":
            con.print(f"{label}: {value}", markup=False, highlight=False)
    if event["price_breakdown"]:
        con.print("", markup=False)
        output.render_table(
            ["component", "tokens", "rate (USD)", "cost (USD)"],
            ([_COMPONENT.get(i["component"], i["component"]),
              f"{i['tokens']:,}" if i["tokens"] is not None else f"{i['requests']:,} requests",
              (f"{i['rate_usd_per_mtok']} / 1M tokens" if i["rate_usd_per_mtok"] is not None
               else f"{i['rate_usd_per_1k_requests']} / 1K requests" if i["rate_usd_per_1k_requests"] is not None
               else "no price"),
              i["cost_usd"]] for i in event["price_breakdown"]),
            title="Price breakdown at the prices in force now",
            right=["tokens", "cost (USD)"],
            footer=["total", "", "", event["breakdown_total_usd"] or ""],
        )
    elif event["breakdown_total_usd"] is not None:
        con.print(f"At the prices in force now: {event['breakdown_total_usd']} USD", markup=False)
    if event["note"]:
        output.info(event["note"])
