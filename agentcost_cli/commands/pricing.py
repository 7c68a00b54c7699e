"""`agentcost pricing ...`: inspect, override, update and re-apply prices."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ..models import format_usd
from ._common import JsonOpt, QuietOpt, YesOpt, confirm, open_store, settings

pricing_app = typer.Typer(help="Model prices: list, show, override, update from a source, re-price history.",
                          no_args_is_help=True)

RATE_ORDER = ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning", "requests_kcount")
ProviderOpt = Annotated[str | None, typer.Option("--provider", help="Provider id (openai, anthropic, google, "
                                                 "aws, azure, ...).", show_default=False)]


def _at(text: str | None) -> Any:
    if not text:
        return None
    from ..timeutil import parse_time_arg, resolve_zone

    return parse_time_arg(text, resolve_zone("UTC"))


@pricing_app.command("list")
def pricing_list(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Only models whose id or name contains this.",
                                               show_default=False)] = None,
    provider: ProviderOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Prices in force at this time (default now).",
                                           show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """List models and their current rates (USD per million tokens).

    Example: agentcost pricing list --provider anthropic --search sonnet
    """
    from ..services.actor import LOCAL
    from ..services.pricing import list_models

    models = list_models(open_store(ctx), LOCAL, search=search, provider=provider, at=_at(at))
    if json_:
        output.write_json({"models": [m.__dict__ for m in models]})
        return
    output.render_table(
        ["provider", "model", "input", "cache read", "cache write", "cache 1h", "output"],
        ([m.provider, m.model + (" (deprecated)" if m.deprecated else ""), *(m.rates.get(k, "") for k in
          ("input", "cache_read", "cache_write", "cache_write_1h", "output"))] for m in models),
        right=["input", "cache read", "cache write", "cache 1h", "output"],
        title="USD per million tokens",
    )
    output.info(f"{len(models):,} model(s)")


@pricing_app.command("show")
def pricing_show(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id as your logs write it.")],
    provider: ProviderOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Prices in force at this time (default now).",
                                           show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Show how a model id resolves and the rates (and tiers) in force.

    Example: agentcost pricing show claude-sonnet-4-5-20250929 --at 2026-01-01
    """
    from ..services.actor import LOCAL
    from ..services.pricing import show_model

    info = show_model(open_store(ctx), LOCAL, model, provider=provider, at=_at(at))
    if json_:
        output.write_json(info.__dict__)
        return
    con = output.console()
    con.print(f"{info.provider}/{info.model}" + (f"  ({info.name})" if info.name else ""), markup=False)
    con.print(f"source: {info.layer}{'  + manual override' if info.overridden else ''}", markup=False)
    if info.context_window:
        con.print(f"context window: {info.context_window:,} tokens")
    for key in RATE_ORDER:
        if key in info.rates:
            unit = "per 1000 requests" if key == "requests_kcount" else "per MTok"
            con.print(f"  {key:<16} ${info.rates[key]} {unit}", markup=False)
            for tier in info.rates.get(f"{key}_tiers", []):
                con.print(f"  {'':<16}   above {tier['above_prompt_tokens']:,} prompt tokens: ${tier['rate']}",
                          markup=False)
    for key, value in info.rates.items():
        if key not in RATE_ORDER and not key.endswith("_tiers"):
            con.print(f"  {key:<16} {value}", markup=False)
    if len(info.price_periods) > 1:
        con.print("price history:")
        for period in info.price_periods:
            con.print(f"  from {period['from'] or 'the start'}: {period['prices']}", markup=False)


@pricing_app.command("set")
def pricing_set(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id (catalog id or as your logs write it).")],
    provider: Annotated[str, typer.Option("--provider", help="Provider id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why this price differs (kept in the history).")],
    input_: Annotated[str | None, typer.Option("--input", help="USD per million uncached input tokens.",
                                               show_default=False)] = None,
    output_rate: Annotated[str | None, typer.Option("--output", help="USD per million output tokens.",
                                                    show_default=False)] = None,
    cache_read: Annotated[str | None, typer.Option("--cache-read", help="USD per million cache-read tokens.",
                                                   show_default=False)] = None,
    cache_write: Annotated[str | None, typer.Option("--cache-write", help="USD per million 5-minute cache-write "
                                                    "tokens.", show_default=False)] = None,
    cache_write_1h: Annotated[str | None, typer.Option("--cache-write-1h", help="USD per million 1-hour "
                                                       "cache-write tokens.", show_default=False)] = None,
    effective_from: Annotated[str | None, typer.Option("--from", help="In force from this time (default: for all "
                                                       "time).", show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Override a model's rates (e.g. a negotiated discount); unset rates keep the catalog's.

    Example: agentcost pricing set gpt-4o --provider openai --input 2 --output 8 --reason "enterprise deal"

    New events use it at once; run `agentcost pricing reprice` to apply it to stored events.
    """
    from ..services.actor import LOCAL
    from ..services.pricing import set_override

    override = set_override(
        open_store(ctx), LOCAL, provider=provider, model=model,
        rates={"input": input_, "output": output_rate, "cache_read": cache_read, "cache_write": cache_write,
               "cache_write_1h": cache_write_1h},
        effective_from=_at(effective_from), reason=reason,
    )
    if not quiet:
        output.info(f"override set for {override['provider']}/{override['model']} (pricing revision "
                    f"{override['revision']}); run `agentcost pricing reprice` to apply it to stored events")


@pricing_app.command("unset")
def pricing_unset(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model id the override was set for.")],
    provider: Annotated[str, typer.Option("--provider", help="Provider id.")],
    yes: YesOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove a model's manual override (it stays in the history).

    Example: agentcost pricing unset gpt-4o --provider openai --yes
    """
    from ..services.actor import LOCAL
    from ..services.pricing import unset_override

    confirm(f"Remove the price override for {provider}/{model}?", yes)
    removed = unset_override(open_store(ctx), LOCAL, provider=provider, model=model)
    if not quiet:
        output.info(f"removed {removed} override(s); run `agentcost pricing reprice` to re-apply catalog prices")


@pricing_app.command("history")
def pricing_history(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model id.", show_default=False)] = None,
    provider: ProviderOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Price changes recorded by updates and overrides, with the percentage change.

    Example: agentcost pricing history gpt-4o
    """
    from ..services.actor import LOCAL
    from ..services.pricing import history

    rows = history(open_store(ctx), LOCAL, provider=provider, model=model)
    if json_:
        output.write_json({"changes": rows})
        return
    output.render_table(
        ["recorded", "provider", "model", "field", "old", "new", "change %", "source"],
        ([r["recorded_utc"][:19], r["provider"], r["model"], r["field"], r["old_value"] or "", r["new_value"] or "",
          r["pct_change"] or "", r["source"]] for r in rows),
        right=["old", "new", "change %"],
    )


@pricing_app.command("update")
def pricing_update(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source", help="URL or file: genai-prices v2 JSON or LiteLLM "
                                               "JSON (default pricing.url).", show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fetch and validate a price snapshot, record changes, and make it the active catalog.

    Example: agentcost pricing update --source ./model_prices.json

    A snapshot with less than half the current models, or one that empties a provider, is refused.
    """
    from ..services.actor import LOCAL
    from ..services.pricing import update_prices

    conf = settings(ctx)
    result = update_prices(open_store(ctx), LOCAL, source=source or conf["pricing.url"],
                           timeout=conf["pricing.timeout"])
    if json_:
        output.write_json(result.__dict__)
        return
    if quiet:
        return
    if result.status != "updated":
        output.info(f"prices {result.status}: {result.source}")
        return
    output.info(f"updated from {result.source}: {result.format}, {result.model_count:,} models from "
                f"{result.provider_count} providers (revision {result.revision}, sha256 {result.sha256})")
    for warning in result.warnings[:10]:
        output.warn(warning)
    big = [c for c in result.changes if c["pct_change"] and abs(float(c["pct_change"])) >= 20]
    output.info(f"{len(result.changes):,} price change(s) recorded; {len(big)} of 20% or more "
                "(see `agentcost pricing history`)")


@pricing_app.command("missing")
def pricing_missing(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Models seen in events that have no price (stored unpriced, never as $0).

    Example: agentcost pricing missing --json
    """
    from ..services.actor import LOCAL
    from ..services.pricing import missing

    rows = missing(open_store(ctx), LOCAL)
    if json_:
        output.write_json({"unpriced_models": rows})
        return
    if not rows:
        output.info("every stored event has a price")
        return
    output.render_table(["provider", "model", "events", "first seen", "last seen"],
                        ([r["provider"], r["model"], f"{r['events']:,}", r["first_seen"][:19], r["last_seen"][:19]]
                         for r in rows), right=["events"])
    output.info("add a price with `agentcost pricing set MODEL --provider P --input X --output Y --reason ...`, "
                "then `agentcost pricing reprice`")


@pricing_app.command("reprice")
def pricing_reprice(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Only events from this time (RFC 3339 or date, UTC).",
                                              show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Recompute stored costs with current prices and print the difference.

    Example: agentcost pricing reprice --since 2026-11-01 --dry-run

    Provider-reported costs (e.g. OpenRouter's) are kept as reported.
    """
    from ..services.actor import LOCAL
    from ..services.pricing import reprice
    from ..timeutil import format_utc

    since_text = format_utc(_at(since)) if since else None
    if not dry_run:
        confirm("Rewrite stored costs with current prices?", yes)
    result = reprice(open_store(ctx), LOCAL, since=since_text, dry_run=dry_run)
    delta = result.cost_after_nanos - result.cost_before_nanos
    if json_:
        output.write_json({
            "dry_run": dry_run, "examined": result.examined, "changed": result.changed,
            "newly_priced": result.newly_priced, "newly_unpriced": result.newly_unpriced,
            "cost_before_usd": format_usd(result.cost_before_nanos),
            "cost_after_usd": format_usd(result.cost_after_nanos), "difference_usd": format_usd(delta),
            "pricing_revision": result.revision,
            "models": [{"provider": p, "model": m, "events": s[0],
                        "before_usd": None if s[3] == s[0] else format_usd(s[1]),
                        "after_usd": None if s[4] == s[0] else format_usd(s[2]),
                        "unpriced_before": s[3], "unpriced_after": s[4]}
                       for (p, m), s in sorted(result.by_model.items())],
        })
        return
    if result.by_model:
        def money(nanos: int, unpriced: int, events: int) -> str:
            if unpriced == events:
                return "unpriced"
            return (format_usd(nanos) or "") + ("*" if unpriced else "")

        output.render_table(["provider", "model", "events", "before (USD)", "after (USD)"],
                            ([p, m, f"{s[0]:,}", money(s[1], s[3], s[0]), money(s[2], s[4], s[0])]
                             for (p, m), s in sorted(result.by_model.items())),
                            right=["events", "before (USD)", "after (USD)"])
    verb = "would change" if dry_run else "changed"
    output.info(f"{result.examined:,} event(s) examined, {result.changed:,} {verb}; total "
                f"{format_usd(result.cost_before_nanos)} -> {format_usd(result.cost_after_nanos)} USD "
                f"({'+' if delta >= 0 else ''}{format_usd(delta)}); pricing revision {result.revision}")
