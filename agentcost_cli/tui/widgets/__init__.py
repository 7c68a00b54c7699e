"""Reusable widgets: the confirmation modal, budget gauges, the spend chart, forms."""
