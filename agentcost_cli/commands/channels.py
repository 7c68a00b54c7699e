"""`agentcost channels ...` (where alerts go) and `agentcost webhooks deliveries|retry`.

A webhook channel's signing secret is printed once, alone on stdout, at `channels add`
and `channels rotate-secret` (`SECRET=$(agentcost channels add ...)` works); lists show
targets redacted, since a Slack or Discord URL is itself a credential.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import output
from ..errors import InvalidInput
from ._common import CsvOpt, JsonOpt, QuietOpt, YesOpt, backend, confirm, emit_listing, one_format, zone

channels_app = typer.Typer(help="Alert channels: email, signed webhooks, Slack, Discord, ntfy, SMS.",
                           no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook and chat deliveries: attempts, and resending what failed.",
                           no_args_is_help=True)

CHANNEL_COLUMNS = ("name", "kind", "target", "project", "status", "disabled_reason", "created_utc",
                   "last_success_utc", "failing_since_utc")
DELIVERY_COLUMNS = ("id", "created_utc", "channel", "channel_name", "subject", "status", "attempts",
                    "next_attempt_utc", "sent_utc", "last_error", "message_uid")
NameArg = Annotated[str, typer.Argument(help="The channel's name.", show_default=False)]
KINDS_HELP = ("email (TARGET: addresses, comma-separated), webhook (an https URL; signed), slack or discord "
              "(their incoming-webhook URL), ntfy (https://ntfy.sh/TOPIC), twilio (a phone number, +E.164)")


@channels_app.command("list")
def channels_list(ctx: typer.Context, json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Channels you may see, with their state (a channel that kept failing is disabled).

    Example: agentcost channels list --json | jq '.channels[] | select(.status=="disabled")'
    """
    rows = backend(ctx).list_channels()
    if emit_listing(one_format(json=json_, csv=csv_), "channels", CHANNEL_COLUMNS, rows,
                    "no channels yet: add one with `agentcost channels add NAME --kind slack --target URL`"):
        return
    output.render_table(
        ["name", "kind", "target", "project", "status"],
        ([r["name"], r["kind"], r["target"], r["project"] or "(all)",
          r["status"] if r["status"] == "active" else f"DISABLED: {r['disabled_reason']}"] for r in rows),
        droppable=["project", "target"])


@channels_app.command("add")
def channels_add(
    ctx: typer.Context,
    name: NameArg,
    kind: Annotated[str, typer.Option("--kind", "-k", help=KINDS_HELP, show_default=False)],
    target: Annotated[str | None, typer.Option("--target", "-t", help="Where it sends (see --kind); read from "
                                               "stdin when omitted, so a URL stays out of shell history.",
                                               show_default=False)] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="The project the channel belongs to "
                                                "(default: store-wide, operators only).", show_default=False)]
    = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", help="ntfy: a file holding an access token.",
                                                    show_default=False)] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Add a channel. A webhook channel's signing secret (whsec_...) is printed once.

    Example: echo "$SLACK_WEBHOOK_URL" | agentcost channels add ops-slack --kind slack
    """
    import sys

    if target is None:
        if sys.stdin.isatty():
            target = typer.prompt("Target", hide_input=kind in ("slack", "discord", "webhook"), err=True)
        else:
            target = sys.stdin.readline().strip()
    if not target:
        raise InvalidInput("no target given", hint="pass --target, or the target on stdin")
    token = token_file.read_text(encoding="utf-8").strip() if token_file else None
    row = backend(ctx).add_channel(name=name, kind=kind, target=target, project=project, token=token)
    _print_secret(row, json_)
    if not quiet:
        output.info(f"added {row['kind']} channel {name} ({row['target']}); test it with "
                    f"`agentcost alerts test --channel {name}`")


def _print_secret(row: dict[str, Any], json_: bool) -> None:
    if json_:
        output.write_json(row)
    elif row.get("secret"):
        output.console().print(row["secret"], markup=False, highlight=False, soft_wrap=True)
        output.info("this signing secret is shown only once: give it to the receiver now "
                    "(it verifies the webhook-signature header)")


@channels_app.command("remove")
def channels_remove(ctx: typer.Context, name: NameArg, yes: YesOpt = False, quiet: QuietOpt = False) -> None:
    """Remove a channel; messages queued for it are dropped at their next attempt.

    Example: agentcost channels remove ops-slack --yes
    """
    confirm(f"Remove channel {name} (budgets and rules that use it stop notifying it)?", yes)
    backend(ctx).remove_channel(name)
    if not quiet:
        output.info(f"removed channel {name}")


@channels_app.command("enable")
def channels_enable(ctx: typer.Context, name: NameArg, quiet: QuietOpt = False) -> None:
    """Enable a channel again (after fixing what disabled it).

    Example: agentcost channels enable ops-webhook
    """
    backend(ctx).set_channel_enabled(name, True)
    if not quiet:
        output.info(f"enabled channel {name}")


@channels_app.command("disable")
def channels_disable(ctx: typer.Context, name: NameArg, quiet: QuietOpt = False) -> None:
    """Stop sending to a channel without removing it.

    Example: agentcost channels disable ops-webhook
    """
    backend(ctx).set_channel_enabled(name, False)
    if not quiet:
        output.info(f"disabled channel {name}")


@channels_app.command("rotate-secret")
def channels_rotate(
    ctx: typer.Context,
    name: NameArg,
    overlap: Annotated[str, typer.Option("--overlap", help="How long deliveries carry both signatures (0 to 7d).")]
    = "24h",
    json_: JsonOpt = False,
) -> None:
    """A new signing secret for a webhook channel, printed once; both are sent during the overlap.

    Example: NEW=$(agentcost channels rotate-secret ops-webhook --overlap 1h)
    """
    from ..timeutil import parse_duration

    hours = parse_duration(overlap, "--overlap").total_seconds() / 3600
    row = backend(ctx).rotate_channel_secret(name, overlap_hours=hours)
    _print_secret(row, json_)


@channels_app.command("test")
def channels_test(ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument(
        help="Channels to test (default: all).", show_default=False)] = None, json_: JsonOpt = False) -> None:
    """Send a test message now and show what each channel answered (same as `alerts test`).

    Example: agentcost channels test ops-slack
    """
    from .alerts import show_test_results

    show_test_results(backend(ctx).test_channels(list(names or [])), json_)


# -- webhooks -----------------------------------------------------------------------------------

@webhooks_app.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="One channel (project admins must name "
                                                "theirs).", show_default=False)] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed for good (dead, or an "
                                         "unknown email outcome).")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Created at or after (2026-11-01, 24h, 7d).",
                                              show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many.")] = 50,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Webhook and chat deliveries, newest first; --json includes every attempt (code, latency, response).

    Example: agentcost webhooks deliveries --failed --since 24h
    """
    rows = backend(ctx).list_deliveries(channel=channel, failed=failed, since=_since(ctx, since), limit=limit)
    fmt = one_format(json=json_, csv=csv_)
    if emit_listing(fmt, "deliveries", DELIVERY_COLUMNS, rows, "no deliveries match"):
        return
    output.render_table(
        ["id", "created (UTC)", "channel", "subject", "status", "tries", "last answer"],
        ([r["id"], r["created_utc"][:16].replace("T", " "), r["channel_name"] or r["recipient"], r["subject"],
          r["status"], r["attempts"], _last_answer(r)] for r in rows),
        right=["id", "tries"], droppable=["subject", "created (UTC)", "last answer"])


def _last_answer(row: dict[str, Any]) -> str:
    attempts = row.get("attempt_log") or []
    if not attempts:
        return "-"
    last = attempts[-1]
    code = f"HTTP {last['status_code']}" if last["status_code"] else (last["error"] or last["outcome"])
    return f"{code} in {last['latency_ms']} ms" if last["latency_ms"] is not None else str(code)


def _since(ctx: typer.Context, text: str | None) -> str | None:
    if not text:
        return None
    from ..timeutil import format_utc, parse_time_arg

    tz, _ = zone(ctx, None)
    return format_utc(parse_time_arg(text, tz))


@webhooks_app.command("retry")
def webhooks_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids to send again.", show_default=False)] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed delivery since --since.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="With --all-failed: created at or after.",
                                              show_default=False)] = None,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel's.", show_default=False)]
    = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Queue failed deliveries again, now. Each keeps its webhook-id, so receivers can drop repeats.

    Example: agentcost webhooks retry --all-failed --since 2026-11-26
    """
    result = backend(ctx).retry_deliveries(ids=list(ids or []) or None, all_failed=all_failed,
                                           since=_since(ctx, since), channel=channel)
    if json_:
        output.write_json(result)
    if not quiet:
        output.info(f"queued {result['requeued']} deliveries again; the dispatcher sends them within seconds "
                    "(or run `agentcost outbox dispatch`)")
