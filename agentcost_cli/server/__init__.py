"""The daemon's HTTP API (FastAPI). Imported only by `agentcost daemon` and the tests:
routes stay thin, every rule lives in services/."""
