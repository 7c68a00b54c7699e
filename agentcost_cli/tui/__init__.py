"""`agentcost tui`: a Textual dashboard over the same Backend as the CLI.

Nothing here is imported by the CLI until `agentcost tui` runs (Textual is heavy)."""
