"""Every provider fixture file parses to exactly its expected events (or errors), and each
parser detects every record of its own fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcost_cli.ingest.base import SourceContext

from .provider_fixtures import PARSERS, expected, file_records, input_files, outcome

CASES = [pytest.param(provider, path, id=f"{provider}/{path.name}")
         for provider in PARSERS for path in input_files(provider)]


@pytest.mark.parametrize("provider", sorted(PARSERS))
def test_every_fixture_file_has_expectations(provider: str) -> None:
    assert {path.name for path in input_files(provider)} == set(expected(provider))


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_fixture_matches_expected(provider: str, path: Path, ctx: SourceContext) -> None:
    got = [outcome(PARSERS[provider], line, record, ctx) for line, record in enumerate(file_records(path), start=1)]
    assert got == expected(provider)[path.name]


@pytest.mark.parametrize(("provider", "path"), CASES)
def test_detects_every_fixture_record(provider: str, path: Path) -> None:
    assert all(PARSERS[provider].detect(record) for record in file_records(path))
