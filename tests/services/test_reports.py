"""Reports: time-zone bucketing, group keys, exact money, and rollups agreeing with raw events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agentcost_cli.errors import InvalidInput
from agentcost_cli.models import PricedEvent, UsageEvent
from agentcost_cli.services.actor import LOCAL
from agentcost_cli.services.reports import METRIC_COLUMNS, ReportRequest, build_report, parse_group_by
from agentcost_cli.store import open_store
from agentcost_cli.store.base import Store


def put(store: Store, rows: list[tuple[str, str, int | None]], **extra: str) -> None:
    """rows: (timestamp, model, cost nanos)."""
    items = []
    for i, (ts, model, cost) in enumerate(rows):
        event = UsageEvent(timestamp=ts, provider="openai", model=model, input_tokens=100, output_tokens=10,
                           id=f"k{i}-{ts}", session=extra.get("session", f"s{i % 2}"), user=extra.get("user"))
        items.append(PricedEvent(event, extra.get("project", "p"), event.id or "", cost,
                                 "computed" if cost is not None else "unpriced", 1, "openai", model))
    with store.transaction():
        store.insert_events(items, ingested_utc="2026-11-26T00:00:00.000000Z")


def test_days_follow_the_requested_zone_across_dst(store: Store) -> None:
    # 2026-11-01 06:30 UTC is 01:30 EDT... and 2026-11-01 05:30 UTC is 01:30 EDT before the fall-back at 06:00 UTC.
    put(store, [
        ("2026-11-01T03:30:00.000000Z", "gpt-4o", 1),  # Oct 31, 23:30 EDT
        ("2026-11-01T04:30:00.000000Z", "gpt-4o", 2),  # Nov 1, 00:30 EDT
        ("2026-11-02T04:30:00.000000Z", "gpt-4o", 4),  # Nov 1, 23:30 EST (after DST ended)
        ("2026-11-02T05:30:00.000000Z", "gpt-4o", 8),  # Nov 2, 00:30 EST
    ])
    ny = build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=ZoneInfo("America/New_York")))
    assert [(r["day"], r["cost_usd"]) for r in ny.rows] == [
        ("2026-10-31", "0.000000001"), ("2026-11-01", "0.000000006"), ("2026-11-02", "0.000000008")]
    utc = build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=UTC))
    assert [r["day"] for r in utc.rows] == ["2026-11-01", "2026-11-02"]
    assert ny.source == "hourly"


def test_half_hour_zones_fall_back_to_events(store: Store) -> None:
    put(store, [("2026-11-01T18:15:00.000000Z", "gpt-4o", 1), ("2026-11-01T18:45:00.000000Z", "gpt-4o", 2)])
    # Kolkata is UTC+5:30: 23:45 on Nov 1 and 00:15 on Nov 2 come from the same UTC hour.
    report = build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=ZoneInfo("Asia/Kolkata")))
    assert [(r["day"], r["events"]) for r in report.rows] == [("2026-11-01", 1), ("2026-11-02", 1)]
    assert report.source == "events"


def test_week_and_month_labels(store: Store) -> None:
    put(store, [("2026-11-29T12:00:00.000000Z", "a", 1), ("2026-11-30T12:00:00.000000Z", "a", 1),
                ("2026-12-01T12:00:00.000000Z", "a", 1)])
    weeks = build_report(store, LOCAL, ReportRequest(group_by=("week",)))
    assert [(r["week"], r["events"]) for r in weeks.rows] == [("2026-11-23", 1), ("2026-11-30", 2)]
    months = build_report(store, LOCAL, ReportRequest(group_by=("month", "model")))
    assert [(r["month"], r["model"], r["events"]) for r in months.rows] == [("2026-11", "a", 2), ("2026-12", "a", 1)]


def test_rows_and_totals_are_exact_and_ordered(store: Store) -> None:
    put(store, [("2026-11-01T10:00:00.000000Z", "cheap", 333_333_333), ("2026-11-01T11:00:00.000000Z", "dear", 2),
                ("2026-11-01T12:00:00.000000Z", "cheap", 333_333_334), ("2026-11-01T13:00:00.000000Z", "none", None)])
    report = build_report(store, LOCAL, ReportRequest(group_by=("model",)))
    assert [r["model"] for r in report.rows] == ["cheap", "dear", "none"]  # costliest first
    assert report.totals["cost_usd"] == "0.666666669"
    assert sum(Decimal(r["cost_usd"]) for r in report.rows) == Decimal(report.totals["cost_usd"])
    assert report.unpriced_events == 1
    assert list(report.rows[0]) == ["model", *METRIC_COLUMNS]


def test_daily_hourly_and_event_paths_agree(store: Store) -> None:
    put(store, [(f"2026-11-{d:02d}T{h:02d}:{m:02d}:00.000000Z", f"m{(d + h) % 3}", d * 100 + h)
                for d in range(1, 6) for h in range(0, 24, 5) for m in (0, 31)])
    daily = build_report(store, LOCAL, ReportRequest(group_by=("day", "model")))
    # A zone other than the store's (same offset, other name) sends it to the hourly rollup...
    hourly = build_report(store, LOCAL, ReportRequest(group_by=("day", "model"), zone=ZoneInfo("Africa/Abidjan")))
    # ...a bound that is not on an hour boundary, to the raw events...
    raw = build_report(store, LOCAL, ReportRequest(group_by=("day", "model"),
                                            since=datetime(2026, 10, 1, 0, 0, 30, tzinfo=UTC)))
    # ...and so does a session grouping.
    by_session = build_report(store, LOCAL, ReportRequest(group_by=("day", "model", "session")))
    assert (daily.source, hourly.source, raw.source, by_session.source) == ("daily", "hourly", "events", "events")
    assert hourly.rows == daily.rows == raw.rows
    assert daily.totals == hourly.totals == raw.totals == by_session.totals


def test_daily_rollup_cuts_days_in_the_store_zone(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ny.db", rollup_zone="America/New_York")
    try:
        put(store, [("2026-11-01T03:30:00.000000Z", "a", 1), ("2026-11-01T04:30:00.000000Z", "a", 2),
                    ("2026-11-02T04:30:00.000000Z", "a", 4), ("2026-11-02T05:30:00.000000Z", "a", 8)])
        ny = ZoneInfo("America/New_York")
        local = build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=ny))
        elsewhere = build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=UTC))
        assert local.source == "daily" and elsewhere.source == "hourly"
        assert [(r["day"], r["events"]) for r in local.rows] == [("2026-10-31", 1), ("2026-11-01", 2),
                                                                  ("2026-11-02", 1)]
        assert [(r["day"], r["events"]) for r in elsewhere.rows] == [("2026-11-01", 2), ("2026-11-02", 2)]
        window = build_report(store, LOCAL, ReportRequest(group_by=("model",), zone=ny,
                                                   since=datetime(2026, 11, 1, tzinfo=ny),
                                                   until=datetime(2026, 11, 2, tzinfo=ny)))
        assert window.source == "daily" and window.totals["events"] == 2
        store.set_rollup_zone("UTC")  # rebuilds the daily rollup
        assert build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=UTC)).source == "daily"
        assert build_report(store, LOCAL, ReportRequest(group_by=("day",), zone=UTC)).rows == elsewhere.rows
    finally:
        store.close()


def test_session_groups_and_time_filters(store: Store) -> None:
    put(store, [("2026-11-01T10:00:00.000000Z", "a", 1), ("2026-11-01T10:30:00.000000Z", "a", 2),
                ("2026-11-01T11:00:00.000000Z", "a", 4)])
    by_session = build_report(store, LOCAL, ReportRequest(group_by=("session",)))
    assert {r["session"]: r["events"] for r in by_session.rows} == {"s0": 2, "s1": 1}
    window = build_report(store, LOCAL, ReportRequest(group_by=("model",),
                                               since=datetime(2026, 11, 1, 10, 15, tzinfo=UTC),
                                               until=datetime(2026, 11, 1, 11, 0, tzinfo=UTC)))
    assert window.totals["events"] == 1 and window.totals["cost_usd"] == "0.000000002"


def test_missing_dimension_values_are_null(store: Store) -> None:
    put(store, [("2026-11-01T10:00:00.000000Z", "a", 1)])
    report = build_report(store, LOCAL, ReportRequest(group_by=("user", "agent")))
    assert report.rows[0]["user"] is None and report.rows[0]["agent"] is None


def test_group_by_parsing() -> None:
    assert parse_group_by("day, model") == ("day", "model")
    assert parse_group_by(None) == ("day",)
    with pytest.raises(InvalidInput, match="cannot group by"):
        parse_group_by("day,colour")
    with pytest.raises(InvalidInput, match="repeated"):
        parse_group_by("day,day")


def test_json_document_shape(store: Store) -> None:
    put(store, [("2026-11-01T10:00:00.000000Z", "a", 5)])
    doc = build_report(store, LOCAL, ReportRequest(group_by=("day",))).as_json()
    assert list(doc) == ["group_by", "since", "until", "timezone", "currency", "rows", "totals", "unpriced_events"]
    assert doc["currency"] == "USD" and doc["totals"]["cost_usd"] == "0.000000005"
