"""Typer sub-commands, one module per noun. Presentation only: parse, call a service, render."""
