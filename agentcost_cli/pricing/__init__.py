"""Prices: the layered catalog (overrides > remote snapshot > bundled) and the cost engine."""
