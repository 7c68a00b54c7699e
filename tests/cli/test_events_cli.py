"""`agentcost events list|show` and the report/export filters by key, user and tag, through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Outcome

LINES = [
    {"id": f"ev-{i}", "timestamp": f"2026-11-20T10:0{i}:00Z", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 1000, "output_tokens": 100, "user": "alice" if i % 2 else "bob", "key_id": f"k{i % 2}",
     **({"tags": {"env": "prod"}} if i < 2 else {})}
    for i in range(5)
]


@pytest.fixture
def db(tmp_path: Path, run_cli: Callable[..., Outcome]) -> Path:
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    target = tmp_path / "store.db"
    assert run_cli("--db", str(target), "ingest", str(source), "--project", "web").code == 0
    return target


def test_list_pages_with_a_cursor_hint_on_stderr(db: Path, run_cli: Callable[..., Outcome]) -> None:
    first = run_cli("--db", str(db), "events", "list", "--limit", "3", "--json")
    assert first.code == 0
    page = first.json()
    assert [e["id"] for e in page["events"]] == ["ev-4", "ev-3", "ev-2"]
    assert page["next_cursor"] and f"--cursor {page['next_cursor']}" in first.stderr
    rest = run_cli("--db", str(db), "events", "list", "--limit", "3", "--json", "--cursor", page["next_cursor"])
    assert [e["id"] for e in rest.json()["events"]] == ["ev-1", "ev-0"]
    assert rest.json()["next_cursor"] is None and "--cursor" not in rest.stderr


def test_list_filters_and_table(db: Path, run_cli: Callable[..., Outcome]) -> None:
    tagged = run_cli("--db", str(db), "events", "list", "--tag", "env=prod", "--user", "alice", "--json")
    assert [e["id"] for e in tagged.json()["events"]] == ["ev-1"]
    searched = run_cli("--db", str(db), "events", "list", "--search", "EV-3", "--json")
    assert [e["id"] for e in searched.json()["events"]] == ["ev-3"]
    table = run_cli("--db", str(db), "events", "list", "--key", "k0")
    assert table.code == 0 and "ev-4" in table.stdout and "ev-3" not in table.stdout
    none = run_cli("--db", str(db), "events", "list", "--model", "nope")
    assert none.code == 0 and none.stdout == "" and "no events match" in none.stderr


def test_list_refuses_bad_input(db: Path, run_cli: Callable[..., Outcome]) -> None:
    assert run_cli("--db", str(db), "events", "list", "--cursor", "junk").code == 2
    assert run_cli("--db", str(db), "events", "list", "--tag", "env").code == 2
    assert run_cli("--db", str(db), "events", "list", "--limit", "0").code == 2


def test_show_prices_one_event(db: Path, run_cli: Callable[..., Outcome]) -> None:
    shown = run_cli("--db", str(db), "events", "show", "web", "ev-2", "--json")
    assert shown.code == 0
    event = shown.json()
    assert event["id"] == "ev-2" and event["matches_stored_cost"] is True
    assert event["breakdown_total_usd"] == event["cost_usd"]
    assert {i["component"] for i in event["price_breakdown"]} >= {"input", "output"}
    table = run_cli("--db", str(db), "events", "show", "web", "ev-2")
    assert "Price breakdown" in table.stdout and event["cost_usd"] in table.stdout
    missing = run_cli("--db", str(db), "events", "show", "web", "nope")
    assert missing.code == 3 and "no event 'nope'" in missing.stderr


def test_report_and_export_filter_by_key_user_and_tag(db: Path, run_cli: Callable[..., Outcome]) -> None:
    def events(*args: str) -> int:
        outcome = run_cli("--db", str(db), "report", "--json", *args)
        assert outcome.code == 0, outcome.stderr
        return int(outcome.json()["totals"]["events"])

    assert events() == 5
    assert events("--user", "alice") == 2
    assert events("--key", "k0", "--key", "k1") == 5
    assert events("--tag", "env=prod") == 2
    assert events("--tag", "env=prod", "--user", "bob") == 1
    assert run_cli("--db", str(db), "report", "--tag", "oops").code == 2
    exported = run_cli("--db", str(db), "export", "events", "--tag", "env=prod", "--key", "k1")
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == ["ev-1"]
