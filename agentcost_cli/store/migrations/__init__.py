"""Append-only, named schema migrations. Never edit one that has shipped: add the next."""
