"""`agentcost daemon`: the HTTP ingestion and management API as a service."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import output
from ._common import settings

daemon_app = typer.Typer(help="Run the HTTP API (ingestion, accounts, reports) as a service.",
                         invoke_without_command=True)


@daemon_app.callback()
def daemon(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default server.host).",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default server.port, 8787).",
                                             show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (several need "
                                         "AGENTCOST_RATE_LIMIT_STORAGE=redis://...).")] = 1,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM); serves HTTPS.",
                                                  show_default=False, exists=True, dir_okay=False)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS private key (PEM).", show_default=False,
                                                 exists=True, dir_okay=False)] = None,
) -> None:
    """Serve the API until stopped (SIGTERM or Ctrl-C finish the requests in flight first).

    Example: agentcost daemon --host 0.0.0.0 --port 8787
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ..errors import InvalidInput

    conf = settings(ctx)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("give both --tls-cert and --tls-key, or neither")
    state = ctx.find_root().obj
    if state is not None and state.db:
        os.environ["AGENTCOST_DB"] = state.db  # the worker processes read the settings from the environment
    os.environ["_AGENTCOST_TLS"] = "1" if tls_cert else "0"
    os.environ["_AGENTCOST_WORKERS"] = str(workers)
    from ..server.ratelimit import multi_instance_check
    from ..store import is_url, redact_location, store_location

    # Before any worker starts: in-memory counters would let each worker allow the whole limit.
    multi_instance_check(conf["server.rate_limit_storage"], workers=workers, shared_store=is_url(conf["store.path"]))
    listen_host = host or conf["server.host"]
    listen_port = port or conf["server.port"]
    debug = bool(state and state.debug)
    from ..server.observability import configure_logging

    configure_logging(json=not debug, level="DEBUG" if debug else "INFO",
                      log_file=Path(conf["server.log_file"]).expanduser() if conf["server.log_file"] else None,
                      retention_days=conf["server.log_retention_days"])
    import signal

    if hasattr(signal, "SIGPIPE"):
        # The CLI's entry point restores SIGPIPE's default for shell pipelines; a server must
        # not die when a client hangs up mid-answer.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    scheme = "https" if tls_cert else "http"
    output.info(f"agentcost daemon on {scheme}://{listen_host}:{listen_port} "
                f"(store {redact_location(store_location(conf['store.path']))})")
    from ..server.metrics import multiprocess_directory

    with multiprocess_directory(workers):  # several workers: /metrics sums them (PROMETHEUS_MULTIPROC_DIR)
        uvicorn.run(
            "agentcost_cli.server.main:app_factory", factory=True, host=listen_host, port=listen_port, workers=workers,
            ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None,
            log_config=None, access_log=False, server_header=False, date_header=True,
            timeout_graceful_shutdown=30, proxy_headers=False,
        )


@daemon_app.command("status")
def daemon_status(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option("--url", help="The daemon's address (default: this machine's "
                                            "server.host and server.port).", show_default=False)] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Ask a running daemon whether it is up and ready.

    Example: agentcost daemon status --url http://127.0.0.1:8787
    """
    import httpx

    from ..errors import RemoteError

    conf = settings(ctx)
    base = (url or f"http://{conf['server.host']}:{conf['server.port']}").rstrip("/")
    try:
        health = httpx.get(f"{base}/healthz", timeout=5).json()
        ready = httpx.get(f"{base}/readyz", timeout=5)
    except (httpx.HTTPError, ValueError) as exc:
        raise RemoteError(f"no daemon answers at {base}: {exc}", hint="start it with `agentcost daemon`") from None
    document = {"url": base, "version": health.get("version"), "ready": ready.status_code == 200,
                **ready.json()}
    if json_:
        output.write_json(document)
    else:
        output.info(f"{base}: up, version {document['version']}, "
                    + ("ready" if document["ready"] else f"NOT ready ({document.get('detail')})"))
    if not document["ready"]:
        raise typer.Exit(4)


@daemon_app.command("jobs")
def daemon_jobs(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV (header row first).")] = False,
) -> None:
    """The scheduled jobs with their last run (from the store, whichever daemon ran it) and next run.

    Example: agentcost daemon jobs
    """
    from ._common import backend, emit_listing, one_format

    rows = backend(ctx).list_jobs()
    columns = ("job", "schedule", "last_start_utc", "last_end_utc", "last_status", "last_error", "last_owner",
               "runs", "next_run_utc", "description")
    if emit_listing(one_format(json=json_, csv=csv_), "jobs", columns, rows, "no jobs"):
        return
    output.render_table(
        ["job", "schedule", "last run (UTC)", "result", "next run (UTC)", "runs"],
        ([r["job"], r["schedule"], (r["last_start_utc"] or "never")[:19].replace("T", " "),
          (r["last_status"] or "-") + (f": {r['last_error']}" if r["last_error"] else ""),
          r["next_run_utc"][:19].replace("T", " "), r["runs"]] for r in rows),
        right=["runs"], droppable=["runs", "schedule"])


UNIT = """[Unit]
Description=agentcost daemon (LLM usage cost API)
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart={exe} daemon --host {host} --port {port}
Environment=AGENTCOST_DB={db}
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=40
{hardening}
[Install]
WantedBy={wanted_by}
"""

HARDENING = """NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={data_dir}
"""


@daemon_app.command("install-service")
def daemon_install_service(
    ctx: typer.Context,
    system: Annotated[bool, typer.Option("--system", help="A system unit (/etc/systemd/system) instead of a "
                                         "user unit (~/.config/systemd/user).")] = False,
    output_path: Annotated[Path | None, typer.Option("--output", "-o", help="Write the unit here instead.",
                                                     show_default=False)] = None,
    host: Annotated[str | None, typer.Option("--host", show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", show_default=False)] = None,
) -> None:
    """Write a systemd unit for the daemon and print how to enable it.

    Example: agentcost daemon install-service && systemctl --user enable --now agentcost
    """
    from .. import paths
    from ..store import is_url, redact_location

    conf = settings(ctx)
    exe = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "agentcost" else Path(sys.executable).with_name(
        "agentcost")
    db: str | Path = conf.db_path
    data_dir = conf.db_path.parent
    if is_url(conf["store.path"]):  # PostgreSQL: what stays on this host is the key file
        db = conf["store.path"]
        if redact_location(str(db)) != db:
            from ..errors import ConfigError

            raise ConfigError("the store URL holds a password, which the unit file would show to every user",
                              hint="keep it in ~/.pgpass (or PGPASSFILE) and take it out of store.path")
        db = str(db).replace("%", "%%")  # systemd expands %-specifiers in Environment=
        data_dir = Path(conf["auth.key_file"]).expanduser().parent if conf["auth.key_file"] else paths.data_dir()
    unit = UNIT.format(exe=exe, host=host or conf["server.host"], port=port or conf["server.port"], db=db,
                       hardening=HARDENING.format(data_dir=data_dir) if system else "",
                       wanted_by="multi-user.target" if system else "default.target")
    if output_path is None:
        output_path = (Path("/etc/systemd/system") if system else Path.home() / ".config" / "systemd" / "user") \
            / "agentcost.service"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(unit, encoding="utf-8")
    flag = "" if system else " --user"
    output.info(f"wrote {output_path}\nenable and start it with:\n  systemctl{flag} daemon-reload\n"
                f"  systemctl{flag} enable --now agentcost\n  journalctl{flag} -u agentcost -f   # its logs")
