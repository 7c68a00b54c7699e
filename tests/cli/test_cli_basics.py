"""The command line, in-process: help, config, db, demo, report, export, pricing and ingest.

Success paths go through `typer.testing.CliRunner` (`invoke`); anything whose exit code is the
point goes through `agentcost_cli.cli.run` (`run_cli`), which is what the installed command runs.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from agentcost_cli.errors import ExitCode
from agentcost_cli.services.export import EXPORT_COLUMNS
from agentcost_cli.services.reports import METRIC_COLUMNS

from .conftest import BAD_LINE, DEMO_EVENTS, GOOD_JSONL, MIXED_JSONL, UNKNOWN_DEMO_MODEL

MONEY = re.compile(r"^-?\d+\.\d{9}$")
INT_METRICS = tuple(c for c in METRIC_COLUMNS if c != "cost_usd")
REPORT_KEYS = ["group_by", "since", "until", "timezone", "currency", "rows", "totals", "unpriced_events"]


def _report(invoke, db: Path, *extra: str) -> dict:
    return json.loads(invoke("--db", str(db), "report", "--json", *extra).stdout)


# -- help ------------------------------------------------------------------------------------------

GROUPS = {
    None: ["ingest", "report", "demo", "completions", "import", "export", "pricing", "config", "db"],
    "import": ["claude-code", "codex"],
    "export": ["events"],
    "pricing": ["list", "show", "set", "unset", "history", "update", "missing", "reprice"],
    "config": ["show", "get", "set", "unset", "path"],
    "db": ["migrate", "status", "backup", "rebuild-rollups"],
}


@pytest.mark.parametrize("help_flag", ["--help", "-h"])
@pytest.mark.parametrize("group", list(GROUPS), ids=lambda g: g or "root")
def test_help_lists_every_command(invoke, group, help_flag):
    args = [group, help_flag] if group else [help_flag]
    result = invoke(*args)
    listed = {m.group(1) for m in re.finditer(r"^[│|]?\s+([a-z][a-z-]*)\s{2,}", result.stdout, re.MULTILINE)}
    assert set(GROUPS[group]) <= listed, result.stdout
    assert "Usage:" in result.stdout
    assert result.stderr == ""


def test_help_through_run_exits_zero(run_cli):
    out = run_cli("--help")
    assert out.code == 0
    assert "report" in out.stdout and "Usage:" in out.stdout


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["--no-color", "--version"]])
def test_version_through_run(run_cli, args):
    from agentcost_cli import __version__

    out = run_cli(*args)
    assert (out.code, out.stdout, out.stderr) == (0, f"agentcost {__version__}\n", "")


# -- config ----------------------------------------------------------------------------------------


def test_config_show_json_shape(invoke, agentcost_home):
    from agentcost_cli.settings import SPECS

    result = invoke("config", "show", "--json")
    doc = json.loads(result.stdout)
    assert list(doc) == [spec.key for spec in SPECS]
    for spec in SPECS:
        entry = doc[spec.key]
        assert set(entry) == {"value", "source", "origin", "env", "help"}
        assert entry["env"] == spec.env
        assert entry["source"] == "default"
        assert entry["origin"] is None
    assert doc["store.path"]["value"] == str(agentcost_home / "data" / "agentcost.db")
    assert doc["report.timezone"]["value"] == "local"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("layers", "expected_value", "expected_source"),
    [
        ((), "local", "default"),
        (("config",), "Europe/Paris", "config"),
        (("env",), "Asia/Tokyo", "env"),
        (("config", "env"), "Asia/Tokyo", "env"),
    ],
)
def test_timezone_precedence_env_over_config_over_default(invoke, monkeypatch, agentcost_home, layers,
                                                          expected_value, expected_source):
    if "config" in layers:
        invoke("config", "set", "report.timezone", "Europe/Paris")
    if "env" in layers:
        monkeypatch.setenv("AGENTCOST_TIMEZONE", "Asia/Tokyo")
    entry = json.loads(invoke("config", "show", "--json").stdout)["report.timezone"]
    assert entry["value"] == expected_value
    assert entry["source"] == expected_source
    expected_origin = {"default": None, "env": "AGENTCOST_TIMEZONE",
                       "config": str(agentcost_home / "config" / "config.toml")}[expected_source]
    assert entry["origin"] == expected_origin


def test_timezone_flag_beats_env_and_config(invoke, monkeypatch, tmp_path):
    db = tmp_path / "tz.db"
    invoke("config", "set", "report.timezone", "Europe/Paris")
    assert _report(invoke, db)["timezone"] == "Europe/Paris"
    monkeypatch.setenv("AGENTCOST_TIMEZONE", "Asia/Tokyo")
    assert _report(invoke, db)["timezone"] == "Asia/Tokyo"
    assert _report(invoke, db, "--tz", "America/New_York")["timezone"] == "America/New_York"


@pytest.mark.parametrize(
    ("layers", "expected", "expected_source"),
    [
        ((), "default", "default"),
        (("config",), "cfg", "config"),
        (("config", "env"), "env", "env"),
        (("config", "env", "flag"), "flag", "flag"),
    ],
)
def test_store_path_precedence_flag_env_config_default(invoke, monkeypatch, tmp_path, agentcost_home, layers,
                                                       expected, expected_source):
    places = {"cfg": str(tmp_path / "cfg.db"), "env": str(tmp_path / "env.db"), "flag": str(tmp_path / "flag.db"),
              "default": str(agentcost_home / "data" / "agentcost.db")}
    if "config" in layers:
        invoke("config", "set", "store.path", places["cfg"])
    if "env" in layers:
        monkeypatch.setenv("AGENTCOST_DB", places["env"])
    args = ["--db", places["flag"]] if "flag" in layers else []
    entry = json.loads(invoke(*args, "config", "show", "--json").stdout)["store.path"]
    assert (entry["value"], entry["source"]) == (places[expected], expected_source)
    # and the value is really used
    assert invoke(*args, "config", "get", "store.path").stdout == places[expected] + "\n"


def test_config_set_get_unset(invoke, agentcost_home):
    config_file = agentcost_home / "config" / "config.toml"
    result = invoke("config", "set", "report.timezone", "Europe/Paris")
    assert result.stdout == ""
    assert "set report.timezone" in result.stderr
    assert tomllib.loads(config_file.read_text())["report"]["timezone"] == "Europe/Paris"
    assert invoke("config", "get", "report.timezone").stdout == "Europe/Paris\n"

    invoke("config", "set", "store.synchronous", "normal")
    assert invoke("config", "get", "store.synchronous").stdout == "NORMAL\n"

    result = invoke("config", "unset", "report.timezone")
    assert result.stdout == "" and "removed report.timezone" in result.stderr
    assert "report" not in tomllib.loads(config_file.read_text())
    assert invoke("config", "get", "report.timezone").stdout == "local\n"
    assert invoke("config", "set", "-q", "report.timezone", "UTC").stderr == ""


@pytest.mark.parametrize(
    ("which", "relative"),
    [("config", "config/config.toml"), ("data", "data"), ("cache", "cache"), ("logs", "log"),
     ("db", "data/agentcost.db")],
)
def test_config_path(invoke, agentcost_home, which, relative):
    assert invoke("config", "path", which).stdout == f"{agentcost_home / relative}\n"


def test_home_flag_moves_every_folder(invoke, tmp_path):
    home = tmp_path / "elsewhere"
    assert invoke("--home", str(home), "config", "path", "data").stdout == f"{home / 'data'}\n"
    assert invoke("--home", str(home), "config", "get", "store.path").stdout == f"{home / 'data' / 'agentcost.db'}\n"


def test_config_path_default_is_config_file(invoke, agentcost_home):
    assert invoke("config", "path").stdout == f"{agentcost_home / 'config' / 'config.toml'}\n"


@pytest.mark.parametrize("args", [["get", "no.such"], ["set", "no.such", "1"], ["unset", "no.such"]])
def test_unknown_config_key_is_a_usage_error(run_cli, agentcost_home, args):
    out = run_cli("config", *args)
    assert out.code == ExitCode.USAGE
    assert out.stdout == ""
    assert "unknown setting 'no.such'" in out.stderr
    assert not (agentcost_home / "config" / "config.toml").exists()


@pytest.mark.parametrize(("key", "value"), [("store.synchronous", "BAD"), ("ingest.batch_size", "0"),
                                            ("pricing.timeout", "soon")])
def test_config_set_invalid_value_is_a_usage_error(run_cli, agentcost_home, key, value):
    out = run_cli("config", "set", key, value)
    assert out.code == ExitCode.USAGE
    assert out.stdout == ""
    assert key in out.stderr
    assert not (agentcost_home / "config" / "config.toml").exists()


def test_unknown_config_path_kind(run_cli):
    out = run_cli("config", "path", "bogus")
    assert (out.code, out.stdout) == (ExitCode.USAGE, "")
    assert "unknown path 'bogus'" in out.stderr


def test_invalid_env_value_is_a_usage_error(run_cli, monkeypatch):
    monkeypatch.setenv("AGENTCOST_SQLITE_SYNCHRONOUS", "SOMETIMES")
    out = run_cli("config", "show", "--json")
    assert (out.code, out.stdout) == (ExitCode.USAGE, "")
    assert "AGENTCOST_SQLITE_SYNCHRONOUS" in out.stderr


# -- db --------------------------------------------------------------------------------------------


def test_db_migrate_then_status(invoke, tmp_path):
    db = tmp_path / "fresh.db"
    first = invoke("--db", str(db), "db", "migrate")
    assert first.stdout == ""
    assert re.search(r"applied [1-9]\d* migration\(s\): m\d+", first.stderr), first.stderr
    second = invoke("--db", str(db), "db", "migrate")
    assert "schema is up to date" in second.stderr
    assert invoke("--db", str(db), "db", "migrate", "--quiet").stderr == ""

    doc = json.loads(invoke("--db", str(db), "db", "status", "--json").stdout)
    assert set(doc) == {"location", "rollup_zone", "applied", "pending", "tables"}
    assert doc["pending"] == []
    assert doc["applied"] and all(set(a) == {"name", "applied_utc"} for a in doc["applied"])
    assert doc["tables"]["events"] == 0
    assert Path(doc["location"]).resolve() == db.resolve()


def test_db_status_counts_demo_events(invoke, demo_db):
    doc = json.loads(invoke("--db", str(demo_db), "db", "status", "--json").stdout)
    assert doc["tables"]["events"] == DEMO_EVENTS
    text = invoke("--db", str(demo_db), "db", "status").stdout
    assert re.search(r"events\s+300\b", text), text


def test_db_status_reads_agentcost_db_env(invoke, monkeypatch, demo_db):
    monkeypatch.setenv("AGENTCOST_DB", str(demo_db))
    assert json.loads(invoke("db", "status", "--json").stdout)["tables"]["events"] == DEMO_EVENTS


def test_db_backup(run_cli, demo_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run_cli("--db", str(demo_db), "db", "backup", "copy.db")
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    assert "backed up" in out.stderr
    with sqlite3.connect(tmp_path / "copy.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = con.execute("SELECT count(*) FROM events").fetchone()[0]
    with sqlite3.connect(demo_db) as con:
        original = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert copied == original == DEMO_EVENTS


def test_db_backup_refuses_to_overwrite_without_yes(run_cli, demo_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("copy.db").write_bytes(b"keep me")
    out = run_cli("--db", str(demo_db), "db", "backup", "copy.db")
    assert out.code == ExitCode.USAGE
    assert out.stdout == ""
    assert "pass --yes" in out.stderr
    assert Path("copy.db").read_bytes() == b"keep me"

    out = run_cli("--db", str(demo_db), "db", "backup", "copy.db", "--yes", "--quiet")
    assert (out.code, out.stdout, out.stderr) == (0, "", "")
    with sqlite3.connect("copy.db") as con:
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == DEMO_EVENTS


# -- demo ------------------------------------------------------------------------------------------


def test_demo_builds_a_store_and_prints_a_table(invoke, tmp_path):
    db = tmp_path / "d.db"
    result = invoke("demo", "--events", "300", "--db", str(db))
    assert "gpt-4o-mini" in result.stdout and "deepseek-chat" in result.stdout
    assert "total" in result.stdout
    assert f"built a demo store with {DEMO_EVENTS} events" in result.stderr
    assert "gpt-4o-mini" not in result.stderr
    doc = _report(invoke, db)
    assert doc["totals"]["events"] == DEMO_EVENTS


def test_demo_default_location_is_in_the_data_folder(invoke, agentcost_home):
    invoke("demo", "--events", "20", "--quiet")
    assert (agentcost_home / "data" / "demo.db").exists()
    assert not (agentcost_home / "data" / "agentcost.db").exists()  # the real store is never touched


# -- report ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["day", "model", "project,model", "provider", "month,agent"])
def test_report_json_shape_and_totals(invoke, demo_db, by):
    doc = _report(invoke, demo_db, "--by", by)
    assert list(doc) == REPORT_KEYS
    group = by.split(",")
    assert doc["group_by"] == group
    assert doc["currency"] == "USD"
    assert doc["timezone"] == "UTC"  # TZ=UTC and report.timezone defaults to local
    assert doc["since"] is None and doc["until"] is None
    assert doc["rows"]
    for row in doc["rows"]:
        assert list(row) == [*group, *METRIC_COLUMNS]
        assert MONEY.match(row["cost_usd"]), row
        assert all(isinstance(row[c], int) for c in INT_METRICS)
    assert list(doc["totals"]) == list(METRIC_COLUMNS)
    assert MONEY.match(doc["totals"]["cost_usd"])
    for column in INT_METRICS:
        assert doc["totals"][column] == sum(r[column] for r in doc["rows"]), column
    assert Decimal(doc["totals"]["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in doc["rows"])
    assert doc["totals"]["events"] == DEMO_EVENTS
    assert doc["unpriced_events"] == doc["totals"]["unpriced_events"] > 0


def test_report_is_one_json_document_with_rows_sorted_by_cost(invoke, demo_db):
    result = invoke("--db", str(demo_db), "report", "--json", "--by", "model")
    doc = json.loads(result.stdout)  # one document, nothing else on stdout
    assert result.stderr == ""
    costs = [Decimal(r["cost_usd"]) for r in doc["rows"]]
    assert costs == sorted(costs, reverse=True)
    unknown = [r for r in doc["rows"] if r["model"] == UNKNOWN_DEMO_MODEL]
    assert len(unknown) == 1
    assert unknown[0]["unpriced_events"] == unknown[0]["events"] == doc["unpriced_events"]


def test_report_csv_matches_json(invoke, demo_db):
    doc = _report(invoke, demo_db, "--by", "model")
    result = invoke("--db", str(demo_db), "report", "--csv", "--by", "model")
    assert result.stderr == ""
    reader = csv.reader(io.StringIO(result.stdout))
    header = next(reader)
    assert header == ["model", *METRIC_COLUMNS]
    rows = list(reader)
    assert len(rows) == len(doc["rows"])
    for cells, expected in zip(rows, doc["rows"], strict=True):
        assert cells == [str(expected[c]) for c in header]


def test_report_output_file(invoke, demo_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--db", str(demo_db), "report", "--by", "model", "-o", "r.csv")
    assert result.stdout == ""
    assert "wrote 8 row(s) to r.csv" in result.stderr
    with open("r.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["model", *METRIC_COLUMNS]
    assert not Path("r.csv.partial").exists()


def test_report_json_to_file(invoke, demo_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--db", str(demo_db), "report", "--json", "--by", "model", "-o", "r.json")
    assert result.stdout == ""
    assert json.loads(Path("r.json").read_text()) == _report(invoke, demo_db, "--by", "model")


def test_report_table_marks_unpriced(invoke, demo_db, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # wide enough that no column is hidden
    result = invoke("--db", str(demo_db), "report", "--by", "model")
    assert re.search(rf"{UNKNOWN_DEMO_MODEL}.* unpriced\b", result.stdout), result.stdout
    assert re.search(r"total .* \d+\.\d\d\*", result.stdout), result.stdout  # partly unpriced total: marked *
    assert "no known price" in result.stderr


def test_report_on_an_empty_store(invoke, tmp_path):
    doc = _report(invoke, tmp_path / "empty.db")
    assert doc["rows"] == []
    assert doc["totals"]["events"] == 0
    assert doc["totals"]["cost_usd"] == "0.000000000"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--by", "nonsense"], "cannot group by 'nonsense'"),
        (["report", "--by", "day,day"], "repeated"),
        (["report", "--json", "--csv"], "choose one of"),
        (["report", "--since", "2026-11-10", "--until", "2026-11-01"], "--until must be later"),
        (["report", "--since", "last blue moon"], ""),
        (["report", "--tz", "Mars/Olympus_Mons"], ""),
        (["export", "events", "--csv", "--jsonl"], "choose one of"),
    ],
)
def test_report_usage_errors(run_cli, demo_db, args, message):
    out = run_cli("--db", str(demo_db), *args)
    assert out.code == ExitCode.USAGE, out.stderr
    assert out.stdout == ""
    assert message in out.stderr
    assert "unexpected error" not in out.stderr


# -- export ----------------------------------------------------------------------------------------


def test_export_jsonl_round_trip(invoke, run_cli, demo_db, tmp_path):
    exported = invoke("--db", str(demo_db), "export", "events", "--jsonl")
    assert exported.stderr == ""
    lines = exported.stdout_bytes.splitlines()
    assert len(lines) == DEMO_EVENTS
    first = json.loads(lines[0])
    assert list(first) == list(EXPORT_COLUMNS)
    timestamps = [json.loads(line)["timestamp"] for line in lines]
    assert timestamps == sorted(timestamps)

    dump = tmp_path / "events.jsonl"
    dump.write_bytes(exported.stdout_bytes)
    fresh = tmp_path / "fresh.db"
    out = run_cli("--db", str(fresh), "ingest", str(dump))
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    for by in ("model", "day,project"):
        assert _report(invoke, fresh, "--by", by) == _report(invoke, demo_db, "--by", by)

    again = run_cli("--db", str(fresh), "ingest", str(dump))
    assert again.code == 0
    assert f"added 0, duplicates {DEMO_EVENTS}" in again.stderr
    assert _report(invoke, fresh)["totals"]["events"] == DEMO_EVENTS


def test_export_jsonl_is_the_default(invoke, demo_db):
    default = invoke("--db", str(demo_db), "export", "events").stdout
    assert default == invoke("--db", str(demo_db), "export", "events", "--jsonl").stdout


def test_export_csv_to_file(invoke, demo_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("--db", str(demo_db), "export", "events", "--csv", "-o", "events.csv")
    assert result.stdout == ""
    assert f"wrote {DEMO_EVENTS} event(s) to events.csv" in result.stderr
    with open("events.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == list(EXPORT_COLUMNS)
    assert len(rows) == DEMO_EVENTS
    assert all(MONEY.match(r["cost_usd"]) for r in rows if r["cost_usd"])
    assert not Path("events.csv.partial").exists()
    assert invoke("--db", str(demo_db), "export", "events", "--csv", "-o", "q.csv", "-q").stderr == ""


def test_export_filters(invoke, demo_db):
    rows = [json.loads(line) for line in
            invoke("--db", str(demo_db), "export", "events", "--model", UNKNOWN_DEMO_MODEL).stdout.splitlines()]
    doc = _report(invoke, demo_db, "--by", "model", "--model", UNKNOWN_DEMO_MODEL)
    assert rows and {r["model"] for r in rows} == {UNKNOWN_DEMO_MODEL}
    assert len(rows) == doc["totals"]["events"]


# -- pricing ---------------------------------------------------------------------------------------


def test_pricing_show_json(invoke, tmp_path):
    result = invoke("--db", str(tmp_path / "p.db"), "pricing", "show", "gpt-4o", "--json")
    info = json.loads(result.stdout)
    assert {"provider", "model", "layer", "rates", "overridden", "price_periods"} <= set(info)
    assert (info["provider"], info["model"], info["overridden"]) == ("openai", "gpt-4o", False)
    assert Decimal(info["rates"]["input"]) > 0
    assert Decimal(info["rates"]["output"]) > Decimal(info["rates"]["input"])


def test_pricing_show_unknown_model_is_not_found(run_cli, tmp_path):
    out = run_cli("--db", str(tmp_path / "p.db"), "pricing", "show", "no-such-model-xyz", "--json")
    assert out.code == ExitCode.NOT_FOUND, out.stderr
    assert out.stdout == ""


def test_pricing_missing_lists_the_demo_unknown_model(invoke, demo_db):
    doc = json.loads(invoke("--db", str(demo_db), "pricing", "missing", "--json").stdout)
    assert [(m["provider"], m["model"]) for m in doc["unpriced_models"]] == [("acme", UNKNOWN_DEMO_MODEL)]
    assert doc["unpriced_models"][0]["events"] == _report(invoke, demo_db)["unpriced_events"]


def _acme_override(invoke, db: Path) -> None:
    result = invoke("--db", str(db), "pricing", "set", UNKNOWN_DEMO_MODEL, "--provider", "acme",
                    "--input", "1.5", "--output", "6", "--reason", "internal chargeback")
    assert result.stdout == ""
    assert "override set for acme/acme-internal-llm" in result.stderr


def _expected_acme_cost(row: dict) -> Decimal:
    # The hand computation below is only valid for plain input/output tokens.
    assert row["cache_read_tokens"] == row["cache_write_tokens"] == row["cache_write_1h_tokens"] == 0
    return (Decimal(row["input_tokens"]) * Decimal("1.5") + Decimal(row["output_tokens"]) * 6) / 1_000_000


def test_pricing_set_and_reprice(invoke, demo_db):
    before = _report(invoke, demo_db, "--by", "model")
    acme = next(r for r in before["rows"] if r["model"] == UNKNOWN_DEMO_MODEL)
    added = _expected_acme_cost(acme)
    assert added > 0

    _acme_override(invoke, demo_db)
    show = json.loads(invoke("--db", str(demo_db), "pricing", "show", UNKNOWN_DEMO_MODEL, "--provider", "acme",
                             "--json").stdout)
    assert show["overridden"] is True
    assert Decimal(show["rates"]["input"]) == Decimal("1.5")

    result = invoke("--db", str(demo_db), "pricing", "reprice", "--yes", "--json")
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is False
    assert doc["examined"] == DEMO_EVENTS
    assert doc["changed"] == doc["newly_priced"] == acme["events"]
    assert Decimal(doc["difference_usd"]) == added
    assert Decimal(doc["cost_before_usd"]) == Decimal(before["totals"]["cost_usd"])
    assert all(MONEY.match(doc[k]) for k in ("cost_before_usd", "cost_after_usd", "difference_usd"))

    after = _report(invoke, demo_db, "--by", "model")
    assert Decimal(after["totals"]["cost_usd"]) == Decimal(before["totals"]["cost_usd"]) + added
    assert after["unpriced_events"] == 0
    acme_after = next(r for r in after["rows"] if r["model"] == UNKNOWN_DEMO_MODEL)
    assert Decimal(acme_after["cost_usd"]) == added
    missing = json.loads(invoke("--db", str(demo_db), "pricing", "missing", "--json").stdout)
    assert missing == {"unpriced_models": []}


def test_pricing_reprice_dry_run_writes_nothing(invoke, demo_db):
    before = _report(invoke, demo_db, "--by", "model")
    acme = next(r for r in before["rows"] if r["model"] == UNKNOWN_DEMO_MODEL)
    _acme_override(invoke, demo_db)
    result = invoke("--db", str(demo_db), "pricing", "reprice", "--dry-run", "--json")
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True
    assert Decimal(doc["cost_after_usd"]) - Decimal(doc["cost_before_usd"]) == _expected_acme_cost(acme)
    assert _report(invoke, demo_db, "--by", "model") == before


@pytest.mark.parametrize(
    "args",
    [
        ["pricing", "reprice"],
        ["pricing", "unset", "gpt-4o", "--provider", "openai"],
    ],
    ids=["reprice", "unset"],
)
def test_destructive_pricing_commands_refuse_without_yes_off_a_tty(run_cli, invoke, demo_db, args):
    before = _report(invoke, demo_db)
    out = run_cli("--db", str(demo_db), *args)
    assert out.code == ExitCode.USAGE
    assert out.stdout == ""
    assert "pass --yes" in out.stderr
    assert _report(invoke, demo_db) == before


@pytest.mark.parametrize("yes_flag", ["--yes", "-y", "--force"])
def test_yes_flag_spellings(run_cli, demo_db, yes_flag):
    out = run_cli("--db", str(demo_db), "pricing", "reprice", yes_flag, "--json")
    assert out.code == 0, out.stderr
    assert out.json()["dry_run"] is False


# -- ingest ----------------------------------------------------------------------------------------


@pytest.fixture
def usage_files(tmp_path, monkeypatch):
    """cd into tmp_path (so file names in messages are short) and write the sample inputs."""
    monkeypatch.chdir(tmp_path)
    Path("mixed.jsonl").write_text(MIXED_JSONL)
    Path("good.jsonl").write_text(GOOD_JSONL)
    return tmp_path


def test_ingest_good_file(run_cli, invoke, usage_files):
    out = run_cli("--db", "s.db", "ingest", "good.jsonl")
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    assert "ingested 1 file(s): read 2, added 2, duplicates 0, rejected 0" in out.stderr
    totals = _report(invoke, Path("s.db"))["totals"]
    assert (totals["events"], totals["input_tokens"], totals["output_tokens"]) == (2, 3000, 300)


def test_ingest_with_one_bad_line(run_cli, invoke, usage_files):
    out = run_cli("--db", "s.db", "ingest", "mixed.jsonl")
    assert out.code == ExitCode.REJECTED
    assert out.stdout == ""
    assert re.search(r"^mixed\.jsonl:2: .*input_tokens", out.stderr, re.MULTILINE), out.stderr
    assert "mixed.jsonl:1:" not in out.stderr and "mixed.jsonl:3:" not in out.stderr
    assert "added 2" in out.stderr and "rejected 1" in out.stderr
    totals = _report(invoke, Path("s.db"))["totals"]
    assert (totals["events"], totals["input_tokens"]) == (2, 3000)  # the good lines are kept


def test_ingest_strict_stores_nothing(run_cli, invoke, usage_files):
    out = run_cli("--db", "s.db", "ingest", "--strict", "mixed.jsonl")
    assert out.code == ExitCode.REJECTED
    assert out.stdout == ""
    assert "mixed.jsonl:2:" in out.stderr
    assert "nothing was written" in out.stderr
    assert _report(invoke, Path("s.db"))["totals"]["events"] == 0


def test_ingest_reject_file_holds_exactly_the_bad_line(run_cli, usage_files):
    out = run_cli("--db", "s.db", "ingest", "mixed.jsonl", "--reject-file", "rejected.jsonl")
    assert out.code == ExitCode.REJECTED
    assert Path("rejected.jsonl").read_text() == BAD_LINE + "\n"


def test_ingest_missing_file_is_not_found(run_cli, usage_files):
    out = run_cli("--db", "s.db", "ingest", "good.jsonl", "nope.jsonl")
    assert out.code == ExitCode.NOT_FOUND
    assert out.stdout == ""
    assert "nope.jsonl" in out.stderr


@pytest.mark.parametrize("quiet", ["--quiet", "-q"])
def test_ingest_quiet_silences_the_summary(run_cli, usage_files, quiet):
    out = run_cli("--db", "s.db", "ingest", quiet, "good.jsonl")
    assert (out.code, out.stdout, out.stderr) == (0, "", "")


def test_ingest_quiet_still_reports_rejections(run_cli, usage_files):
    out = run_cli("--db", "s.db", "ingest", "-q", "mixed.jsonl")
    assert out.code == ExitCode.REJECTED
    assert "mixed.jsonl:2:" in out.stderr
    assert "ingested" not in out.stderr


@pytest.mark.parametrize("args", [["ingest", "-"], ["ingest"]], ids=["dash", "no-args"])
def test_ingest_from_stdin(run_cli, invoke, usage_files, args):
    out = run_cli("--db", "s.db", *args, stdin=GOOD_JSONL.encode())
    assert out.code == 0, out.stderr
    assert out.stdout == ""
    assert _report(invoke, Path("s.db"))["totals"]["events"] == 2


def test_ingest_project_and_duplicates(run_cli, invoke, usage_files):
    assert run_cli("--db", "s.db", "ingest", "good.jsonl", "--project", "web").code == 0
    again = run_cli("--db", "s.db", "ingest", "good.jsonl", "--project", "web")
    assert "added 0, duplicates 2" in again.stderr
    doc = _report(invoke, Path("s.db"), "--by", "project")
    assert [(r["project"], r["events"]) for r in doc["rows"]] == [("web", 2)]


def test_ingest_unknown_format_is_a_usage_error(run_cli, usage_files):
    out = run_cli("--db", "s.db", "ingest", "--format", "yaml", "good.jsonl")
    assert (out.code, out.stdout) == (ExitCode.USAGE, "")
    assert "unknown --format 'yaml'" in out.stderr


def test_ingest_uses_agentcost_db_env(run_cli, invoke, usage_files, monkeypatch):
    monkeypatch.setenv("AGENTCOST_DB", str(usage_files / "env.db"))
    assert run_cli("ingest", "good.jsonl").code == 0
    assert _report(invoke, usage_files / "env.db")["totals"]["events"] == 2


# -- regressions: each of these was a real bug once -------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["report", "--bogus"], ["no-such-command"], ["demo", "--events", "0"], ["pricing", "set", "gpt-4o"]],
    ids=["unknown-option", "unknown-command", "bad-parameter", "missing-option"],
)
def test_click_usage_errors_exit_2(run_cli, agentcost_home, args):
    out = run_cli(*args)
    assert out.code == ExitCode.USAGE
    assert "unexpected error" not in out.stderr
    assert not (agentcost_home / "log").exists()


@pytest.mark.parametrize("args", [[], ["pricing"], ["config"]], ids=["root", "pricing", "config"])
def test_group_without_command_prints_help_cleanly(run_cli, args):
    out = run_cli(*args)
    assert out.code in (0, ExitCode.USAGE)
    assert "unexpected error" not in out.stderr


def test_declining_a_confirmation_aborts_cleanly(run_cli, invoke, demo_db):
    before = _report(invoke, demo_db)
    out = run_cli("--db", str(demo_db), "pricing", "reprice", tty_input="n\n")
    assert _report(invoke, demo_db) == before
    assert out.code == 1
    assert "aborted; nothing changed" in out.stderr
    assert "unexpected error" not in out.stderr


LONG_NAME = "usage-" + "x" * 120 + ".jsonl"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["ingest", LONG_NAME], rf"^{re.escape(LONG_NAME)}:2: .*input_tokens.*$"),
        (["db", "backup", LONG_NAME], rf"^invalid input: {re.escape(LONG_NAME)} exists\. .*pass --yes.*$"),
    ],
    ids=["rejection", "error"],
)
def test_stderr_messages_are_never_wrapped(run_cli, tmp_path, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)
    Path(LONG_NAME).write_text(MIXED_JSONL)
    out = run_cli("--db", "s.db", *args)
    assert out.code in (ExitCode.REJECTED, ExitCode.USAGE)
    assert re.search(pattern, out.stderr, re.MULTILINE), out.stderr


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["report", "--by", "model"], ["cost (USD)", "claude-sonnet-4-5-20250929"]),
        (["config", "show"], ["report.timezone", "AGENTCOST_TIMEZONE", "source"]),
    ],
    ids=["report", "config-show"],
)
def test_tables_never_truncate(invoke, demo_db, args, needles):
    result = invoke("--db", str(demo_db), *args)
    assert "…" not in result.stdout
    for needle in needles:
        assert needle in result.stdout


def test_ingest_without_input_on_a_terminal_says_so_instead_of_waiting(run_cli):
    out = run_cli("ingest", tty_input="")
    assert out.code == ExitCode.USAGE
    assert "nothing to ingest" in out.stderr and out.stdout == ""


def test_report_on_an_empty_store_points_to_the_ways_in(run_cli):
    out = run_cli("report")
    assert out.code == 0
    assert "no usage yet" in out.stderr and "no usage yet" not in out.stdout
    assert "no usage yet" not in run_cli("report", "--json").stderr
