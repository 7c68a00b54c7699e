"""Alert evaluation: pure functions over aggregate rows; `services/` decides and persists.

`rules` holds the custom alert-rule language (see `agentcost_cli.alerts.rules`).
"""
