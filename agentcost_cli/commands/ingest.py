"""`agentcost ingest` and `agentcost import claude-code|codex`."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Annotated, Any

import typer

from .. import output
from ..errors import ExitCode
from ._common import QuietOpt, RejectFileOpt, backend, settings
from ._progress import progress

import_app = typer.Typer(help="Import coding-agent logs from their default folders, incrementally.",
                         no_args_is_help=True)

FORMAT_HELP = "auto, native, csv, openai, anthropic, gemini, claude-code or codex."


def _summary_line(summary: Any, verb: str) -> str:
    parts = [
        f"read {summary.read:,}", f"added {summary.added:,}", f"duplicates {summary.duplicates:,}",
        f"rejected {summary.rejected:,}", f"unpriced {summary.unpriced:,}",
    ]
    if summary.skipped:
        parts.append(f"no usage {summary.skipped:,}")
    if summary.unchanged_files:
        parts.append(f"unchanged files {summary.unchanged_files:,}")
    return f"{verb} {summary.files:,} file(s): " + ", ".join(parts)


class _RejectSink:
    """Prints each rejection to stderr (bounded) and optionally saves the raw lines."""

    LIMIT = 50

    def __init__(self, reject_file: Path | None) -> None:
        self.shown = 0
        self.handle: IO[bytes] | None = open(reject_file, "wb") if reject_file else None  # noqa: SIM115

    def __call__(self, rejection: Any) -> None:
        if self.shown < self.LIMIT:
            output.err_console().print(f"{rejection.path}:{rejection.line}: {rejection.reason}", markup=False)
        elif self.shown == self.LIMIT:
            output.err_console().print("... further rejections not shown (use --reject-file to keep them all)")
        self.shown += 1
        if self.handle is not None and rejection.raw is not None:
            self.handle.write(rejection.raw if rejection.raw.endswith(b"\n") else rejection.raw + b"\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _options(ctx: typer.Context, *, fmt: str, project: str | None, at: str | None, strict: bool) -> Any:
    from ..errors import InvalidInput
    from ..ingest.pipeline import IngestOptions
    from ..ingest.registry import FORMATS
    from ..timeutil import normalize_timestamp

    if fmt not in FORMATS:
        raise InvalidInput(f"unknown --format {fmt!r}", hint=f"choose one of: {', '.join(FORMATS)}")
    conf = settings(ctx)
    at_text = None
    if at:
        try:
            at_text = normalize_timestamp(at)
        except ValueError as exc:
            raise InvalidInput(f"--at: {exc}") from None
    return IngestOptions(fmt=fmt, project=project, default_project=conf["ingest.project"], at=at_text,
                         strict=strict, batch_size=conf["ingest.batch_size"], workers=conf["ingest.workers"])


def _evaluate_alerts(ctx: typer.Context, summary: Any, quiet: bool) -> None:
    """New spend on this machine's store: check budgets and rules now, as a daemon does after
    each batch. (Against a daemon, the daemon does it.) What fires is queued for delivery."""
    from ._common import open_store, remote_mode

    if not summary.added or remote_mode(ctx):
        return
    from ..services.alert_run import evaluate

    report = evaluate(open_store(ctx))
    for error in report["errors"]:
        output.warn(error)
    if report["fired"] and not quiet:
        output.info(f"{len(report['fired'])} alert(s) fired; `agentcost outbox dispatch` sends them "
                    "(a running daemon does it on its own)")


def _finish(ctx: typer.Context, summary: Any, verb: str, quiet: bool) -> None:
    if not quiet:
        output.info(_summary_line(summary, verb))
        if summary.unpriced:
            output.warn(f"{summary.unpriced:,} event(s) have no known price; see `agentcost pricing missing`")
    _evaluate_alerts(ctx, summary, quiet)
    if summary.rejected:
        raise typer.Exit(int(ExitCode.REJECTED))


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        ctx: typer.Context,
        paths: Annotated[list[str] | None, typer.Argument(help="Files or folders; '-' or nothing reads stdin.",
                                                          show_default=False)] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help=f"Input format: {FORMAT_HELP}")] = "auto",
        project: Annotated[str | None, typer.Option("--project", "-p", help="Put every event in this project.",
                                                    show_default=False)] = None,
        at: Annotated[str | None, typer.Option("--at", help="Time for responses that carry none (RFC 3339); "
                                               "default: the time of ingestion.", show_default=False)] = None,
        strict: Annotated[bool, typer.Option("--strict", help="Write nothing if any record is rejected.")] = False,
        reject_file: RejectFileOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Ingest usage from files or stdin; formats are detected per file and per line.

        Example: agentcost ingest usage.jsonl responses/ --project web

        Re-ingesting the same data adds nothing. Exit code 6 means some records were rejected
        (each is listed on stderr with file, line and reason; the rest were kept).
        """
        import sys

        from ..errors import InvalidInput
        from ..services.ingest import Hooks

        if (not paths or paths == ["-"]) and sys.stdin.isatty():
            # Waiting silently for a terminal to type JSON is never what anyone meant.
            raise InvalidInput("nothing to ingest", hint="name files or folders, or pipe data: "
                                                         "my-app | agentcost ingest -")
        options = _options(ctx, fmt=fmt, project=project, at=at, strict=strict)
        api = backend(ctx)  # the local store, or (after `agentcost login`) the daemon
        sink = _RejectSink(reject_file)
        try:
            with progress("ingesting", quiet=quiet) as bar:
                summary = api.ingest(paths or ["-"], options,
                                     Hooks(on_reject=sink, on_progress=bar.advance, on_total=bar.total))
        finally:
            sink.close()
        _finish(ctx, summary, "ingested", quiet)

    @import_app.command("claude-code")
    def import_claude_code(
        ctx: typer.Context,
        path: Annotated[list[Path] | None, typer.Option("--path", help="Claude Code projects folder(s); default "
                                                        "CLAUDE_CONFIG_DIR or ~/.claude (repeatable).",
                                                        show_default=False)] = None,
        project: Annotated[str | None, typer.Option("--project", "-p", help="Put everything in this project "
                                                    "(default: one project per Claude Code project folder).",
                                                    show_default=False)] = None,
        reject_file: RejectFileOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Import Claude Code session logs; a second run reads only what is new.

        Example: agentcost import claude-code && agentcost report --by day,model
        """
        _import_agent(ctx, "claude-code", path, project, reject_file, quiet)

    @import_app.command("codex")
    def import_codex(
        ctx: typer.Context,
        path: Annotated[list[Path] | None, typer.Option("--path", help="Codex sessions folder(s); default "
                                                        "$CODEX_HOME/sessions or ~/.codex/sessions.",
                                                        show_default=False)] = None,
        project: Annotated[str | None, typer.Option("--project", "-p", help="Put everything in this project.",
                                                    show_default=False)] = None,
        reject_file: RejectFileOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Import Codex CLI session logs; a second run reads only what is new.

        Example: agentcost import codex --project backend
        """
        _import_agent(ctx, "codex", path, project, reject_file, quiet)


def _import_agent(ctx: typer.Context, agent: str, paths: list[Path] | None, project: str | None,
                  reject_file: Path | None, quiet: bool) -> None:
    """Both modes read this machine's logs. Locally the per-file cursors live in the store; against
    a daemon the events are uploaded as by `ingest`, and the cursors are kept on this machine."""
    from ..services.ingest import Hooks, agent_log_roots

    conf = settings(ctx)
    setting = conf["import.claude_code_path" if agent == "claude-code" else "import.codex_path"]
    roots = agent_log_roots(agent, paths or [], setting)
    options = _options(ctx, fmt=agent, project=project, at=None, strict=False)
    api = backend(ctx)
    sink = _RejectSink(reject_file)
    try:
        with progress(f"importing {agent}", quiet=quiet) as bar:
            summary = api.import_agent_logs(agent, roots, options,
                                            Hooks(on_reject=sink, on_progress=bar.advance, on_total=bar.total))
    finally:
        sink.close()
    _finish(ctx, summary, "imported", quiet)
