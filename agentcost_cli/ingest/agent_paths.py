"""Where coding agents keep their session logs, and the log files found there.

The defaults follow ccusage (`getClaudePaths`, the Codex loader), so both tools
read the same files: `CLAUDE_CONFIG_DIR` (comma-separated) replaces the default
Claude folders rather than adding to them, and `CODEX_HOME` moves Codex's.
Environment variables are read at call time, never at import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLAUDE_PROJECTS = "projects"
CODEX_SESSIONS = "sessions"


def _split(setting: str) -> list[Path]:
    return [Path(part.strip()).expanduser() for part in setting.split(",") if part.strip()]


def _unique(paths: Iterable[Path]) -> list[Path]:
    """Drop repeats, including a folder reached twice through a symlink
    (~/.config/claude -> ~/.claude is common), which would double the reading work."""
    seen: set[str] = set()
    out: list[Path] = []
    for path in paths:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def claude_code_roots(setting: str = "") -> list[Path]:
    """Claude Code `projects` folders to read.

    `setting` (import.claude_code_path) is a comma-separated list; each entry may
    be a Claude config folder (its `projects` subfolder is used) or a projects
    folder itself. Entries that do not exist are kept, so the caller can say so.
    Empty: each folder in CLAUDE_CONFIG_DIR, else ~/.config/claude (or under
    XDG_CONFIG_HOME) and ~/.claude, each + /projects, keeping only those that exist.
    """
    if setting.strip():
        return _unique(_projects_of(path) for path in _split(setting))
    env = os.environ.get("CLAUDE_CONFIG_DIR", "")
    if env.strip():
        bases = _split(env)
    else:
        config_home = os.environ.get("XDG_CONFIG_HOME", "").strip()
        config = Path(config_home) if config_home else Path.home() / ".config"
        bases = [config / "claude", Path.home() / ".claude"]
    return _unique(base / CLAUDE_PROJECTS for base in bases if (base / CLAUDE_PROJECTS).is_dir())


def _projects_of(path: Path) -> Path:
    projects = path / CLAUDE_PROJECTS
    return projects if projects.is_dir() else path


def codex_roots(setting: str = "") -> list[Path]:
    """Codex `sessions` folders to read.

    `setting` (import.codex_path): comma-separated folders, kept as given (a
    CODEX_HOME-style folder gets its `sessions` subfolder). Empty:
    $CODEX_HOME/sessions, else ~/.codex/sessions, only if it exists.
    """
    if setting.strip():
        return _unique(_sessions_of(path) for path in _split(setting))
    home = os.environ.get("CODEX_HOME", "").strip()
    sessions = (Path(home).expanduser() if home else Path.home() / ".codex") / CODEX_SESSIONS
    return [sessions] if sessions.is_dir() else []


def _sessions_of(path: Path) -> Path:
    sessions = path / CODEX_SESSIONS
    return sessions if sessions.is_dir() else path


def iter_log_files(roots: Iterable[Path]) -> list[Path]:
    """Every `*.jsonl` under the roots, sorted, each once.

    Includes sub-agent transcripts (`agent-*.jsonl`, `<session>/subagents/`):
    skipping them loses a large share of real usage (codeburn#17 lost ~46%).
    A root that is itself a .jsonl file is taken as is. Symlinked folders are
    not followed, so a link loop cannot hang the scan.
    """
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            if root.suffix == ".jsonl":
                found.add(root)
            continue
        for folder, _dirs, files in os.walk(root):
            base = Path(folder)
            found.update(base / name for name in files if name.endswith(".jsonl"))
    return sorted(found)
