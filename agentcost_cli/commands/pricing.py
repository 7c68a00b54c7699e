"""`agentcost pricing ...`: inspect, override, update and re-apply prices.

Every command works on this machine's store or, after `agentcost login`, on the daemon's
(where anyone signed in reads prices and only server admins change them).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import output
from ._common import JsonOpt, QuietOpt, YesOpt, backend, confirm, settings

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
    models = backend(ctx).list_prices(search=search, provider=provider, at=_at(at))
    if json_:
        output.write_json({"models": models})
        return
    output.render_table(
        ["provider", "model", "input", "cache read", "cache write", "cache 1h", "output"],
        ([m["provider"], m["model"] + (" (deprecated)" if m["deprecated"] else ""), *(m["rates"].get(k, "") for k in
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
    info = backend(ctx).show_price(model, provider=provider, at=_at(at))
    if json_:
        output.write_json(info)
        return
    con = output.console()
    rates: dict[str, Any] = info["rates"]
    con.print(f"{info['provider']}/{info['model']}" + (f"  ({info['name']})" if info["name"] else ""), markup=False)
    con.print(f"source: {info['layer']}{'  + manual override' if info['overridden'] else ''}", markup=False)
    if info["context_window"]:
        con.print(f"context window: {info['context_window']:,} tokens")
    for key in RATE_ORDER:
        if key in rates:
            unit = "per 1000 requests" if key == "requests_kcount" else "per MTok"
            con.print(f"  {key:<16} ${rates[key]} {unit}", markup=False)
            for tier in rates.get(f"{key}_tiers", []):
                con.print(f"  {'':<16}   above {tier['above_prompt_tokens']:,} prompt tokens: ${tier['rate']}",
                          markup=False)
    for key, value in rates.items():
        if key not in RATE_ORDER and not key.endswith("_tiers"):
            con.print(f"  {key:<16} {value}", markup=False)
    if len(info["price_periods"]) > 1:
        con.print("price history:")
        for period in info["price_periods"]:
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
    override = backend(ctx).set_price_override(
        provider=provider, model=model,
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
    confirm(f"Remove the price override for {provider}/{model}?", yes)
    removed = backend(ctx).unset_price_override(provider=provider, model=model)
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
    rows = backend(ctx).price_history(provider=provider, model=model)
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
    Against a daemon, the daemon updates from its own pricing.url (--source is for this machine's store).
    """
    conf = settings(ctx)
    result = backend(ctx).update_prices(source or None, timeout=conf["pricing.timeout"])
    if json_:
        output.write_json(result)
        return
    if quiet:
        return
    if result["status"] != "updated":
        output.info(f"prices {result['status']}: {result['source']}")
        return
    output.info(f"updated from {result['source']}: {result['format']}, {result['model_count']:,} models from "
                f"{result['provider_count']} providers (revision {result['revision']}, sha256 {result['sha256']})")
    for warning in result["warnings"][:10]:
        output.warn(warning)
    changes = result["changes"]
    big = [c for c in changes if c["pct_change"] and abs(float(c["pct_change"])) >= 20]
    output.info(f"{len(changes):,} price change(s) recorded; {len(big)} of 20% or more "
                "(see `agentcost pricing history`)")


@pricing_app.command("missing")
def pricing_missing(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Models seen in events that have no price (stored unpriced, never as $0).

    Example: agentcost pricing missing --json
    """
    rows = backend(ctx).missing_prices()
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
    from ..timeutil import format_utc

    since_text = format_utc(_at(since)) if since else None
    if not dry_run:
        confirm("Rewrite stored costs with current prices?", yes)
    result = backend(ctx).reprice(since=since_text, dry_run=dry_run)
    if json_:
        output.write_json(result)
        return
    if result["models"]:
        def money(usd: str | None, unpriced: int) -> str:
            return "unpriced" if usd is None else usd + ("*" if unpriced else "")

        output.render_table(["provider", "model", "events", "before (USD)", "after (USD)"],
                            ([m["provider"], m["model"], f"{m['events']:,}",
                              money(m["before_usd"], m["unpriced_before"]), money(m["after_usd"], m["unpriced_after"])]
                             for m in result["models"]),
                            right=["events", "before (USD)", "after (USD)"])
    verb = "would change" if dry_run else "changed"
    difference = result["difference_usd"]
    output.info(f"{result['examined']:,} event(s) examined, {result['changed']:,} {verb}; total "
                f"{result['cost_before_usd']} -> {result['cost_after_usd']} USD "
                f"({'' if difference.startswith('-') else '+'}{difference}); pricing revision "
                f"{result['pricing_revision']}")
