"""A view's filters, shared by Explore and Events so that a drill-down carries them over."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..store.base import EventFilter
from ..timeutil import format_utc


def filter_parts(projects: tuple[str, ...], providers: tuple[str, ...], models: tuple[str, ...],
                 keys: tuple[str, ...], users: tuple[str, ...], tags: tuple[tuple[str, str], ...]) -> list[str]:
    """Each active filter as `project=a,b` or `tag env=prod`, for the screens' filter lines."""
    parts = []
    for label, values in (("project", projects), ("provider", providers), ("model", models), ("key", keys),
                          ("user", users)):
        if values:
            parts.append(f"{label}={','.join(values)}")
    parts.extend(f"tag {name}={value}" for name, value in tags)
    return parts


@dataclass(frozen=True)
class ViewFilter:
    since: datetime | None = None
    until: datetime | None = None
    projects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    search: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # e.g. the day a row stands for

    def narrowed(self, **changes: Any) -> ViewFilter:
        return replace(self, **changes)

    def event_filter(self) -> EventFilter:
        return EventFilter(
            since=format_utc(self.since) if self.since else None,
            until=format_utc(self.until) if self.until else None,
            projects=self.projects, providers=self.providers, models=self.models,
            keys=self.keys, users=self.users, tags=self.tags,
        )

    def describe(self) -> str:
        """One line for the screen: what is filtered, or 'everything'."""
        parts = filter_parts(self.projects, self.providers, self.models, self.keys, self.users, self.tags)
        if self.search:
            parts.append(f"search {self.search!r}")
        return " · ".join(parts) or "everything"
