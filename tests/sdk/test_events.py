"""record()'s cheap validation: caught at the call site, before anything is queued."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from agentcost_cli.ingest.native import NATIVE_FIELDS
from agentcost_cli.models import UsageEvent
from agentcost_cli.sdk import InvalidEventError
from agentcost_cli.sdk.events import NATIVE_FIELDS as SDK_NATIVE_FIELDS
from agentcost_cli.sdk.events import encode, native_event

CANONICAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_the_sdk_knows_the_same_fields_as_the_native_parser() -> None:
    assert frozenset(NATIVE_FIELDS) == SDK_NATIVE_FIELDS


def test_defaults_id_and_timestamp() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    out = native_event({"model": "gpt-4o", "input_tokens": 5})
    assert re.fullmatch(r"sdk_[0-9a-f]{32}", out["id"])
    assert CANONICAL.match(out["timestamp"])
    assert datetime.fromisoformat(out["timestamp"]) >= before
    assert native_event({"model": "m"})["id"] != native_event({"model": "m"})["id"]


def test_the_callers_dict_is_not_changed() -> None:
    event = {"model": "gpt-4o", "input_tokens": 5}
    native_event(event, default_project="web")
    assert event == {"model": "gpt-4o", "input_tokens": 5}


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-20T10:15:30.123Z", "2026-11-20T10:15:30.123000Z"),
    ("2026-11-20T12:15:30+02:00", "2026-11-20T10:15:30.000000Z"),
    ("2026-11-20", "2026-11-20T00:00:00.000000Z"),
    (1795000000, "2026-11-18T11:06:40.000000Z"),
    (1795000000123, "2026-11-18T11:06:40.123000Z"),
    (datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=1))), "2026-11-20T11:00:00.000000Z"),
    (date(2026, 11, 20), "2026-11-20T00:00:00.000000Z"),
])
def test_timestamps_are_normalized(value: Any, expected: str) -> None:
    assert native_event({"model": "m", "timestamp": value})["timestamp"] == expected


@pytest.mark.parametrize(("event", "message"), [
    ({}, "model is required"),
    ({"model": ""}, "model is required"),
    ({"model": 5}, "model is required"),
    ({"model": "m", "input_tokens": -1}, "must not be negative"),
    ({"model": "m", "output_tokens": 1.5}, "whole number"),
    ({"model": "m", "output_tokens": True}, "whole number"),
    ({"model": "m", "cache_read_tokens": "12"}, "whole number"),
    ({"model": "m", "requests": -2}, "must not be negative"),
    ({"model": "m", "output_tokens": 10**13}, "implausibly large"),
    ({"model": "m", "output_tokens": 5, "reasoning_tokens": 6}, "cannot exceed"),
    ({"model": "m", "output_token": 5}, "unknown field 'output_token'"),
    ({"model": "m", "timestamp": "2026-11-20T10:15:30"}, "no UTC offset"),
    ({"model": "m", "timestamp": "yesterday"}, "not RFC 3339"),
    ({"model": "m", "timestamp": datetime(2026, 11, 20, 10)}, "naive datetime"),
    ({"model": "m", "id": "x" * 129}, "longer than 128"),
    ({"model": "m", "id": ["a"]}, "id must be text"),
    ({"model": "m", "latency_ms": -3}, "latency_ms"),
    ({"model": "m", "latency_ms": float("nan")}, "latency_ms"),
    ({"model": "m", "latency_ms": float("inf")}, "latency_ms"),
    ({"model": "m", "user": 12}, "user must be text"),
    ({"model": "m", "tags": "env=prod"}, "tags must be an object"),
    ({"model": "m", "metadata": [1]}, "metadata must be an object"),
])
def test_invalid_events_are_refused(event: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEventError, match=re.escape(message)):
        native_event(event)


def test_not_a_dict() -> None:
    with pytest.raises(InvalidEventError, match="dict or a UsageEvent"):
        native_event(["model"])


def test_integral_floats_and_nulls() -> None:
    out = native_event({"model": "m", "input_tokens": 12.0, "output_tokens": None, "project": None})
    assert out["input_tokens"] == 12 and isinstance(out["input_tokens"], int)
    assert "output_tokens" not in out and "project" not in out


def test_a_usage_event_keeps_its_dedupe_key() -> None:
    usage = UsageEvent(timestamp="2026-11-20T10:00:00.000000Z", provider="anthropic", model="claude-x",
                       input_tokens=3, output_tokens=4, reported_cost_usd=Decimal("0.25"))
    out = native_event(usage, default_project="web")
    assert out["id"] == usage.dedupe_key()
    assert out["project"] == "web"
    assert out["reported_cost_usd"] == "0.25"
    usage.id = "msg_1"
    assert native_event(usage)["id"] == "msg_1"


def test_encode_is_compact_json_and_refuses_what_json_cannot_say() -> None:
    event = native_event({"model": "m", "metadata": {"cost": Decimal("1.50"), "when": date(2026, 1, 2)}})
    assert json.loads(encode(event))["metadata"] == {"cost": "1.50", "when": "2026-01-02"}
    with pytest.raises(InvalidEventError, match="JSON-serializable"):
        encode(native_event({"model": "m", "metadata": {"x": object()}}))
    with pytest.raises(InvalidEventError, match="JSON-serializable"):
        encode(native_event({"model": "m"}) | {"latency_ms": float("inf")})
