"""Remote mode: talking to an agentcost daemon over HTTP.

`session.RemoteSession` logs in, keeps the refresh token rotating safely and sends
authenticated requests; `problems.error_for` turns the daemon's problem+json answers into
agentcost errors. These modules import httpx: the command modules import them inside their
functions, so `agentcost --version` and `--help` never load it.
"""
