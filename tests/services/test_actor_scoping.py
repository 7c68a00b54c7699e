"""Services obey the actor: users see and write only their projects, API keys only theirs.

Real users, memberships and keys in a real SQLite store; the same rules the CLI (as the
local owner) and the HTTP daemon (users, keys) go through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import IngestRejected, NotFound, PermissionDenied
from agentcost_cli.ingest import parallel
from agentcost_cli.ingest.pipeline import IngestOptions, Rejection
from agentcost_cli.services import pricing
from agentcost_cli.services.actor import LOCAL, Actor
from agentcost_cli.services.demo import build_demo_store
from agentcost_cli.services.export import export_rows
from agentcost_cli.services.ingest import Hooks, import_agent_logs, ingest_inputs
from agentcost_cli.services.reports import ReportRequest, build_report
from agentcost_cli.store import open_store
from agentcost_cli.store.accounts import AuditQuery
from agentcost_cli.store.base import EventFilter, Store

NOW = "2026-11-20T12:00:00.000000Z"


def event(i: int, project: str | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": f"e{i}", "timestamp": f"2026-11-{1 + i % 28:02d}T10:00:00Z", "provider": "openai",
                           "model": "gpt-4o", "input_tokens": 1000 + i, "output_tokens": 10 + i}
    if project is not None:
        row["project"] = project
    row.update(extra)
    return row


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def add_user(store: Store, email: str, *, admin: bool = False, **roles: str) -> Actor:
    """A user with `roles` ({project slug: role}); the projects must exist."""
    user_id = store.insert_user({"email": email, "is_admin": int(admin), "created_utc": NOW})
    for slug, role in roles.items():
        project = store.get_project(slug)
        assert project is not None
        store.set_membership(int(project["id"]), user_id, role, created_utc=NOW)
    return Actor(kind="user", user_id=user_id, email=email, is_admin=admin)


def key_for(store: Store, slug: str, *scopes: str) -> Actor:
    project = store.get_project(slug)
    assert project is not None
    return Actor(kind="key", key_id=1, key_prefix="ac_live_abcd", key_project_id=int(project["id"]),
                 scopes=frozenset(scopes))


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    """Projects a and b with usage (ingested by the local owner), c empty."""
    src = write_jsonl(tmp_path / "seed.jsonl", [event(i, "a" if i % 2 else "b") for i in range(10)])
    assert ingest_inputs(store, LOCAL, [str(src)], IngestOptions()).added == 10
    store.project_ids(["c"])
    return store


def by_project(store: Store, actor: Actor, *projects: str) -> dict[str, int]:
    report = build_report(store, actor, ReportRequest(group_by=("project",), projects=projects))
    return {row["project"]: row["events"] for row in report.rows}


def stored(store: Store) -> list[tuple[str, str]]:
    return sorted((e["project"], e["dedupe_key"]) for e in store.iter_events(EventFilter()))


def audit(store: Store) -> list[dict[str, Any]]:
    return [r for r in store.list_audit(AuditQuery()) if r["action"] == "data.export"]


# -- reports -----------------------------------------------------------------------

def test_a_viewer_reports_only_their_project(seeded: Store) -> None:
    viewer = add_user(seeded, "viewer@example.com", a="viewer")
    assert by_project(seeded, LOCAL) == {"a": 5, "b": 5}
    assert by_project(seeded, viewer) == {"a": 5}  # everything = everything they may read
    assert by_project(seeded, viewer, "a") == {"a": 5}
    full = build_report(seeded, viewer, ReportRequest(group_by=("day",)))
    assert full.totals == build_report(seeded, LOCAL, ReportRequest(group_by=("day",), projects=("a",))).totals
    with pytest.raises(NotFound, match="'b'"):
        by_project(seeded, viewer, "b")
    with pytest.raises(NotFound, match="'nope'"):
        by_project(seeded, viewer, "nope")


def test_a_user_in_no_project_gets_an_empty_report(seeded: Store) -> None:
    outsider = add_user(seeded, "outsider@example.com")
    for group_by in (("project",), ("day", "model"), ("session",)):
        report = build_report(seeded, outsider, ReportRequest(group_by=group_by))
        assert report.rows == [] and report.totals["events"] == 0


def test_an_ingest_only_key_may_not_read_usage(seeded: Store) -> None:
    ingest_key = key_for(seeded, "a", "ingest")
    with pytest.raises(PermissionDenied):  # a key has one project: reading nothing there is refused
        by_project(seeded, ingest_key)
    with pytest.raises(PermissionDenied):
        by_project(seeded, ingest_key, "a")
    assert by_project(seeded, key_for(seeded, "a", "read")) == {"a": 5}
    with pytest.raises(NotFound):
        by_project(seeded, key_for(seeded, "a", "read"), "b")


# -- export ------------------------------------------------------------------------

def test_an_export_by_a_non_member_is_refused(seeded: Store) -> None:
    outsider = add_user(seeded, "outsider@example.com", c="owner")
    with pytest.raises(NotFound):
        export_rows(seeded, outsider, EventFilter(projects=("a",)))  # refused at the call, not when read
    assert list(export_rows(seeded, outsider, EventFilter())) == []  # their own project c has no events
    with pytest.raises(PermissionDenied):
        export_rows(seeded, key_for(seeded, "a", "ingest"), EventFilter(projects=("a",)))
    assert [(r["outcome"], r["target"]) for r in audit(seeded)] == [  # newest first
        ("denied", "a"), ("ok", "c"), ("denied", "a")]


def test_every_export_writes_an_audit_record(seeded: Store) -> None:
    viewer = add_user(seeded, "viewer@example.com", a="viewer")
    everything = list(export_rows(seeded, LOCAL, EventFilter(since="2026-11-01T00:00:00.000000Z")))
    assert len(everything) == 10
    mine = list(export_rows(seeded, viewer, EventFilter(providers=("openai",), models=("gpt-4o",))))
    assert {row["project"] for row in mine} == {"a"} and len(mine) == 5
    rows = list(export_rows(seeded, viewer, EventFilter(projects=("a",))))
    assert rows == mine
    first, second, third = reversed(audit(seeded))
    assert (first["actor"], first["target"], first["outcome"], first["project"]) == ("local", "all", "ok", None)
    assert json.loads(first["detail_json"])["since"] == "2026-11-01T00:00:00.000000Z"
    # An export of one project belongs to that project's audit log too.
    assert (second["actor"], second["actor_user_id"], second["target"], second["project"]) == (
        "user:viewer@example.com", viewer.user_id, "a", "a")
    assert json.loads(second["detail_json"]) == {"since": None, "until": None, "projects": [],
                                                 "providers": ["openai"], "models": ["gpt-4o"]}
    assert third["target"] == "a" and json.loads(third["detail_json"])["projects"] == ["a"]


# -- ingest ------------------------------------------------------------------------

def test_a_member_ingests_into_their_project_only(seeded: Store, tmp_path: Path) -> None:
    member = add_user(seeded, "member@example.com", a="member", b="viewer")
    src = write_jsonl(tmp_path / "mine.jsonl", [event(100, "a"), event(101, "a")])
    summary = ingest_inputs(seeded, member, [str(src)], IngestOptions())
    assert (summary.added, summary.rejected) == (2, 0)
    assert by_project(seeded, LOCAL) == {"a": 7, "b": 5}

    before = stored(seeded)
    other = write_jsonl(tmp_path / "other.jsonl", [event(200, None)])
    with pytest.raises(PermissionDenied, match="'b'"):  # a viewer there
        ingest_inputs(seeded, member, [str(other)], IngestOptions(project="b"))
    with pytest.raises(NotFound, match="'c'"):  # not in it at all
        ingest_inputs(seeded, member, [str(other)], IngestOptions(project="c"))
    with pytest.raises(NotFound, match="'new'"):  # only operators create projects on first sight
        ingest_inputs(seeded, member, [str(other)], IngestOptions(project="new"))
    assert stored(seeded) == before
    assert seeded.get_project("new") is None


def test_records_naming_a_refused_project_are_rejected_lines(seeded: Store, tmp_path: Path) -> None:
    member = add_user(seeded, "member@example.com", a="member", b="viewer")
    src = write_jsonl(tmp_path / "mixed.jsonl", [event(300, "a"), event(301, "b"), event(302, "c"),
                                                  event(303, "zzz"), event(304, "a")])
    rejected: list[Rejection] = []
    summary = ingest_inputs(seeded, member, [str(src)], IngestOptions(), Hooks(on_reject=rejected.append))
    assert (summary.read, summary.added, summary.rejected) == (5, 2, 3)
    reasons = {r.line: r.reason for r in rejected}
    assert set(reasons) == {2, 3, 4} and all(r.path == str(src) for r in rejected)
    assert "may not events ingest in project 'b'" in reasons[2]
    assert reasons[3] == "no project named 'c'" and reasons[4] == "no project named 'zzz'"
    assert seeded.get_project("zzz") is None
    assert by_project(seeded, LOCAL) == {"a": 7, "b": 5}
    # --strict: one refused line and nothing is written.
    strict = write_jsonl(tmp_path / "strict.jsonl", [event(400, "a"), event(401, "c")])
    with pytest.raises(IngestRejected):
        ingest_inputs(seeded, member, [str(strict)], IngestOptions(strict=True))
    assert by_project(seeded, LOCAL) == {"a": 7, "b": 5}


def test_a_user_who_may_ingest_nowhere_is_refused_up_front(seeded: Store, tmp_path: Path) -> None:
    viewer = add_user(seeded, "viewer@example.com", a="viewer")
    src = write_jsonl(tmp_path / "x.jsonl", [event(500, "a")])
    with pytest.raises(PermissionDenied):
        ingest_inputs(seeded, viewer, [str(src)], IngestOptions())
    assert len(stored(seeded)) == 10


def test_an_ingest_key_writes_to_its_own_project(seeded: Store, tmp_path: Path) -> None:
    key = key_for(seeded, "c", "ingest")
    src = write_jsonl(tmp_path / "key.jsonl", [event(600, None), event(601, None), event(602, "c"),
                                                event(603, "a"), event(604, None)])
    rejected: list[Rejection] = []
    summary = ingest_inputs(seeded, key, [str(src)], IngestOptions(), Hooks(on_reject=rejected.append))
    assert (summary.added, summary.rejected) == (4, 1)
    assert [(r.line, r.reason) for r in rejected] == [(4, "no project named 'a'")]
    assert by_project(seeded, LOCAL) == {"a": 5, "b": 5, "c": 4}  # unnamed events went to the key's project
    assert seeded.get_project("default") is None
    # Known before reading: another --project, or a key without the ingest scope, stops the run.
    with pytest.raises(NotFound):
        ingest_inputs(seeded, key, [str(src)], IngestOptions(project="a"))
    forced = ingest_inputs(seeded, key, [str(src)], IngestOptions(project="c"))  # --project wins over the data
    assert (forced.added, forced.duplicates, forced.rejected) == (1, 4, 0)
    with pytest.raises(PermissionDenied):
        ingest_inputs(seeded, key_for(seeded, "c", "read"), [str(src)], IngestOptions())
    assert by_project(seeded, LOCAL) == {"a": 5, "b": 5, "c": 5}


@pytest.mark.skipif(not parallel.can_fork(), reason="the parallel path needs fork()")
def test_forked_workers_apply_the_same_check(seeded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            ) -> None:
    rows = [event(1000 + i, None if i % 3 == 0 else "c" if i % 3 == 1 else "b") for i in range(3000)]
    src = write_jsonl(tmp_path / "big.jsonl", rows)
    key = key_for(seeded, "c", "ingest")

    def run(store: Store, workers: int) -> tuple[Any, list[tuple[int, str]], list[tuple[str, str]]]:
        rejected: list[Rejection] = []
        summary = ingest_inputs(store, key, [str(src)], IngestOptions(workers=workers),
                                Hooks(on_reject=rejected.append))
        return summary.as_dict(), [(r.line, r.reason) for r in rejected], stored(store)

    in_process = run(seeded, 1)  # one worker: below the size floor, read in this process
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 20_000)
    other = open_store(tmp_path / "other.db")
    try:
        for slug in ("a", "b", "c"):  # the same project ids as in `seeded`, for the same key
            assert other.project_ids([slug]) == seeded.project_ids([slug])
        assert parallel.split(str(src), src.stat().st_size)[1:]
        in_parallel = run(other, 2)
    finally:
        other.close()
    assert in_parallel[0] == in_process[0] and in_process[0]["rejected"] == 1000
    assert in_parallel[1] == in_process[1]
    assert in_process[1][0] == (3, "no project named 'b'")
    seed = {f"e{i}" for i in range(10)}
    assert in_parallel[2] == [e for e in in_process[2] if e[1] not in seed]
    assert {project for project, _ in in_parallel[2]} == {"c"}


def test_agent_imports_obey_the_key_too(seeded: Store, tmp_path: Path) -> None:
    folder = tmp_path / "projects" / "-home-me-src-shop"
    folder.mkdir(parents=True)
    line = {"type": "assistant", "sessionId": "s1", "uuid": "u1", "timestamp": "2026-11-20T10:00:00.000Z",
            "cwd": "/home/me/src/shop", "requestId": "r1",
            "message": {"id": "m1", "model": "claude-sonnet-4-5-20250929", "role": "assistant",
                        "usage": {"input_tokens": 10, "output_tokens": 5}}}
    (folder / "s1.jsonl").write_text(json.dumps(line) + "\n")
    key = key_for(seeded, "c", "ingest")
    rejected: list[Rejection] = []
    summary = import_agent_logs(seeded, key, "claude-code", [tmp_path / "projects"], IngestOptions(),
                                Hooks(on_reject=rejected.append))
    assert (summary.added, [r.reason for r in rejected]) == (0, ["no project named 'shop'"])
    assert seeded.get_project("shop") is None
    with pytest.raises(NotFound):
        import_agent_logs(seeded, key, "codex", [tmp_path], IngestOptions(project="a"))


# -- pricing and the store ---------------------------------------------------------

def test_only_operators_change_prices(seeded: Store, tmp_path: Path) -> None:
    user = add_user(seeded, "member@example.com", a="owner")
    with pytest.raises(PermissionDenied):
        pricing.update_prices(seeded, user, source=str(tmp_path / "never-read.json"), timeout=1)
    with pytest.raises(PermissionDenied):
        pricing.reprice(seeded, user)
    with pytest.raises(PermissionDenied):
        pricing.set_override(seeded, user, provider="openai", model="gpt-4o", rates={"input": "1", "output": "1"},
                             effective_from=None, reason="cheaper")
    with pytest.raises(PermissionDenied):
        pricing.unset_override(seeded, user, provider="openai", model="gpt-4o")
    assert pricing.show_model(seeded, user, "gpt-4o", provider="openai").model == "gpt-4o"  # any user may look
    assert pricing.missing(seeded, user) == [] and pricing.history(seeded, user) == []
    with pytest.raises(PermissionDenied):
        pricing.missing(seeded, key_for(seeded, "a", "ingest"))
    assert pricing.list_models(seeded, key_for(seeded, "a", "read"), search="gpt-4o-mini")
    admin = add_user(seeded, "admin@example.com", admin=True)
    assert pricing.reprice(seeded, admin, dry_run=True).examined == 10


def test_building_a_demo_store_needs_store_admin(seeded: Store) -> None:
    with pytest.raises(PermissionDenied):
        build_demo_store(seeded, add_user(seeded, "owner@example.com", a="owner"), events=10)
    assert len(stored(seeded)) == 10
