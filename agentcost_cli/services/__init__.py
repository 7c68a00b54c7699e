"""The business layer: every rule lives here, used alike by the CLI, the TUI and the API."""
