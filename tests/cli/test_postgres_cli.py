"""The CLI on a PostgreSQL store (`--db postgresql://...`): ingest, report, export and
`db status` print exactly what they print on SQLite; `db backup` points at pg_dump."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..pg import pg_schema
from .conftest import GOOD_LINE_1, GOOD_LINE_3, Outcome


def test_ingest_report_and_export_match_sqlite(run_cli: Callable[..., Outcome], tmp_path: Path) -> None:
    src = tmp_path / "usage.jsonl"
    src.write_text(f"{GOOD_LINE_1}\n{GOOD_LINE_3}\n{GOOD_LINE_1}\n")  # the repeat is a duplicate
    printed: dict[str, list[str]] = {}
    with pg_schema() as url:
        for kind, location in (("sqlite", str(tmp_path / "s.db")), ("postgres", url)):
            first = run_cli("--db", location, "ingest", str(src))
            again = run_cli("--db", location, "ingest", str(src))  # re-ingesting never double-counts
            assert (first.code, again.code) == (0, 0), first.stderr + again.stderr
            report = run_cli("--db", location, "report", "--by", "day,model", "--json")
            export = run_cli("--db", location, "export", "events", "--jsonl")
            rows = [{k: v for k, v in json.loads(line).items() if k != "ingested_at"}  # when each run ran
                    for line in export.stdout.splitlines()]
            printed[kind] = [first.stderr, again.stderr, report.stdout, json.dumps(rows)]
            status = run_cli("--db", location, "db", "status", "--json").json()
            assert status["pending"] == [] and status["tables"]["events"] == 2
        backup = run_cli("--db", url, "db", "backup", str(tmp_path / "copy"))
    assert printed["postgres"] == printed["sqlite"]
    assert json.loads(printed["postgres"][2])["totals"]["input_tokens"] == 3000
    assert backup.code == 2 and "pg_dump" in backup.stderr and not (tmp_path / "copy").exists()
