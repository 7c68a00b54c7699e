"""Ingestion: parsers turn any supported input into normalized `UsageEvent`s."""
