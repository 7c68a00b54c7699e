"""Default log folders for Claude Code and Codex, and the log-file scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcost_cli.ingest.agent_paths import claude_code_roots, codex_roots, iter_log_files


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake HOME (conftest already clears CLAUDE_CONFIG_DIR and CODEX_HOME)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def make(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    return path


# -- Claude Code -------------------------------------------------------------------------------


def test_claude_defaults_are_config_then_dot_claude_when_they_exist(home: Path) -> None:
    assert claude_code_roots() == []
    dot = make(home / ".claude" / "projects")
    assert claude_code_roots() == [dot]
    config = make(home / ".config" / "claude" / "projects")
    assert claude_code_roots() == [config, dot]


def test_claude_folder_without_projects_is_ignored(home: Path) -> None:
    make(home / ".claude")  # Claude Code installed but never run
    assert claude_code_roots() == []


def test_xdg_config_home_moves_the_config_folder(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = make(tmp_path / "xdg" / "claude" / "projects")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert claude_code_roots() == [xdg]


def test_claude_config_dir_replaces_the_defaults(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(home / ".claude" / "projects")
    first = make(tmp_path / "work-claude" / "projects")
    second = make(tmp_path / "personal" / "projects")
    make(tmp_path / "empty")
    setting = f" {tmp_path / 'work-claude'} ,{tmp_path / 'empty'},,{tmp_path / 'personal'}"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", setting)
    assert claude_code_roots() == [first, second]


def test_claude_setting_accepts_config_or_projects_folders(home: Path, tmp_path: Path) -> None:
    make(home / ".claude" / "projects")
    config_projects = make(tmp_path / "cfg" / "projects")
    plain = make(tmp_path / "copied-logs")
    missing = tmp_path / "nowhere"
    roots = claude_code_roots(f"{tmp_path / 'cfg'},{plain},{missing}")
    assert roots == [config_projects, plain, missing]  # a missing folder stays, so the caller can report it


def test_claude_setting_expands_tilde(home: Path) -> None:
    projects = make(home / "logs" / "projects")
    assert claude_code_roots("~/logs") == [projects]


def test_a_symlinked_config_folder_is_read_once(home: Path) -> None:
    make(home / ".claude" / "projects")
    make(home / ".config")
    (home / ".config" / "claude").symlink_to(home / ".claude")
    assert claude_code_roots() == [home / ".config" / "claude" / "projects"]


# -- Codex -------------------------------------------------------------------------------------------


def test_codex_default_is_dot_codex_sessions_when_it_exists(home: Path) -> None:
    assert codex_roots() == []
    sessions = make(home / ".codex" / "sessions")
    assert codex_roots() == [sessions]


def test_codex_home_moves_it(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(home / ".codex" / "sessions")
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    assert codex_roots() == []
    sessions = make(tmp_path / "codex" / "sessions")
    assert codex_roots() == [sessions]


def test_codex_setting_takes_home_or_sessions_folders(home: Path, tmp_path: Path) -> None:
    sessions = make(tmp_path / "ch" / "sessions")
    direct = make(tmp_path / "archive")
    assert codex_roots(f"{tmp_path / 'ch'}, {direct}") == [sessions, direct]


# -- scanning ------------------------------------------------------------------------------------------


def test_iter_log_files_finds_sessions_and_subagents_sorted(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    expected = [
        touch(root / "-home-me-app" / "0b6c.jsonl"),
        touch(root / "-home-me-app" / "0b6c" / "subagents" / "agent-7c1e.jsonl"),
        touch(root / "-home-me-app" / "agent-3f9a.jsonl"),
        touch(root / "-home-me-lib" / "deep" / "er" / "x.jsonl"),
    ]
    touch(root / "-home-me-app" / "notes.txt")
    touch(root / "-home-me-app" / "old.jsonl.bak")
    assert iter_log_files([root]) == sorted(expected)


def test_iter_log_files_merges_overlapping_roots_and_accepts_files(tmp_path: Path) -> None:
    one = touch(tmp_path / "a" / "one.jsonl")
    two = touch(tmp_path / "a" / "b" / "two.jsonl")
    other = touch(tmp_path / "single.jsonl")
    touch(tmp_path / "single.txt")
    roots = [tmp_path / "a", tmp_path / "a" / "b", other, tmp_path / "single.txt", tmp_path / "missing"]
    assert iter_log_files(roots) == sorted([one, two, other])


def test_iter_log_files_does_not_follow_directory_links(tmp_path: Path) -> None:
    root = make(tmp_path / "projects")
    touch(root / "p" / "s.jsonl")
    (root / "p" / "loop").symlink_to(root)
    assert [p.name for p in iter_log_files([root])] == ["s.jsonl"]
