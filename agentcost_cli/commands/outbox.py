"""`agentcost outbox list|show`: the emails agentcost has queued (invitations, resets, notices):
this machine's store's, or (after `agentcost login`, as a server admin) the daemon's."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import output
from ._common import CsvOpt, JsonOpt, backend, emit_listing, one_format

outbox_app = typer.Typer(help="Queued emails (invitations, verification, password resets, security notices).",
                         no_args_is_help=True)

OUTBOX_COLUMNS = ("id", "created_utc", "channel", "recipient", "template", "subject", "status", "attempts",
                  "next_attempt_utc", "sent_utc", "last_error")


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only messages in this state (pending, sent, "
                                               "failed).", show_default=False)] = None,
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
