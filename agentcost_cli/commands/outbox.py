"""`agentcost outbox list|show`: the emails agentcost has queued (invitations, resets, notices):
this machine's store's, or (after `agentcost login`, as a server admin) the daemon's."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output
from ._common import CsvOpt, JsonOpt, QuietOpt, backend, emit_listing, one_format

outbox_app = typer.Typer(help="Queued messages (alerts, invitations, verification, resets) and their delivery.",
                         no_args_is_help=True)

OUTBOX_COLUMNS = ("id", "created_utc", "channel", "recipient", "template", "subject", "status", "attempts",
                  "next_attempt_utc", "sent_utc", "last_error")


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only messages in this state (pending, sent, "
                                               "dead, unknown; failed: dead or unknown).", show_default=False)]
    = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="At most this many messages.")]
    = 100,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Queued and sent messages, newest first (bodies are shown by `agentcost outbox show ID`).

    Example: agentcost outbox list --status pending
    """
    fmt = one_format(json=json_, csv=csv_)
    rows = backend(ctx).list_outbox(status=status, limit=limit)
    empty = "the outbox is empty" if status is None else f"no {status} messages"
    if emit_listing(fmt, "messages", OUTBOX_COLUMNS, rows, empty):
        return
    output.render_table(
        ["id", "created (UTC)", "to", "subject", "status", "attempts"],
        ([r["id"], r["created_utc"][:16].replace("T", " "), r["recipient"], r["subject"], r["status"],
          r["attempts"]] for r in rows),
        right=["id", "attempts"], droppable=["id", "to", "subject", "status", "created (UTC)", "attempts"],
    )


@outbox_app.command("show")
def outbox_show(
    ctx: typer.Context,
    message_id: Annotated[int, typer.Argument(help="The message id, from `agentcost outbox list`.",
                                              show_default=False)],
    json_: JsonOpt = False,
) -> None:
    """One message with its body (it may hold a live sign-in or reset link: handle it like a password).

    Example: agentcost outbox show 3
    """
    message = backend(ctx).show_outbox(message_id)
    if json_:
        output.write_json(message)
        return
    con = output.console()
    for label, key in (("To", "recipient"), ("Subject", "subject"), ("Created", "created_utc"),
                       ("Status", "status"), ("Template", "template")):
        con.print(f"{label}: {message[key]}", markup=False, highlight=False)
    if message["sent_utc"]:
        con.print(f"Sent: {message['sent_utc']}", markup=False)
    if message["last_error"]:
        con.print(f"Last error: {message['last_error']}", markup=False)
    con.print("", markup=False)
    con.print(message["body"].rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


@outbox_app.command("dispatch")
def outbox_dispatch(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="At most this many messages.")]
    = 100,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Deliver what is due now, once each (for cron, without a daemon); exits 1 if a message died.

    Failed attempts are retried later on the schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    Example: * * * * * agentcost outbox dispatch -q
    """
    report = backend(ctx).dispatch_outbox(limit=limit)
    if json_:
        output.write_json(report)
    if not quiet:
        output.info(f"{report['claimed']} due: {report['sent']} sent, {report['retrying']} to retry, "
                    f"{report['dead']} failed for good, {report['unknown']} with an unknown outcome")
    for name in report["disabled_channels"]:
        output.warn(f"channel {name} was disabled (see `agentcost channels list`)")
    if report["dead"]:
        raise typer.Exit(1)


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Message ids to send again.", show_default=False)] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed message since --since.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="With --all-failed: created at or after.",
                                              show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """Queue failed messages again (emails keep their idempotency key: a provider that took one drops the copy).

    Example: agentcost outbox retry 12 13
    """
    from .channels import _since

    result = backend(ctx).retry_deliveries(ids=list(ids or []) or None, all_failed=all_failed,
                                           since=_since(ctx, since))
    if not quiet:
        output.info(f"queued {result['requeued']} messages again")
