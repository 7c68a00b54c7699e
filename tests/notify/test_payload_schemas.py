"""Webhook payloads: the documented examples, the JSON Schemas and `webhook_data` agree.

`jsonschema_rs` is not a dependency of agentcost (it comes with the `test` extra, through
schemathesis), so validation is a helper here rather than an API of `notify.payloads`.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from agentcost_cli.notify import payloads, webhook_send
from agentcost_cli.notify.notice import EVENT_TYPES, Notice
from agentcost_cli.notify.payloads import ENVELOPE, PRESENTATION_KEYS, schema_for, webhook_data

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
MONEY_KEY = re.compile(r"(_usd|_usd_per_mtok|percent|_pct|z_score)$")


def validate(event_type: str, data: Any) -> None:
    """Raise `jsonschema_rs.ValidationError` unless `data` matches `event_type`'s schema
    (``"envelope"`` for the whole body). Formats (date-time, date) are checked too."""
    jsonschema_rs.Draft202012Validator(schema_for(event_type), validate_formats=True).validate(data)


def is_valid(event_type: str, data: Any) -> bool:
    return bool(jsonschema_rs.Draft202012Validator(schema_for(event_type), validate_formats=True).is_valid(data))


def doc_examples() -> list[dict[str, Any]]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```$", text, re.S | re.M)
    return [json.loads(b) for b in blocks]


EXAMPLES = {ex["type"]: ex for ex in doc_examples()}


# The keys the alerting service produces for each type (and receivers may rely on).
BUDGET = {"budget", "scope", "period", "amount_usd", "spent_usd"}
EXPECTED_REQUIRED = {
    "budget.threshold_crossed": BUDGET | {"percent", "threshold", "forecast_usd"},
    "budget.forecast_exceeded": BUDGET | {"percent", "forecast_usd"},
    "budget.recovered": BUDGET | {"reason"},
    "rule.triggered": {"rule", "expression", "window", "window_start", "window_end", "values", "filters"},
    "anomaly.detected": {"project", "day", "spent_usd", "baseline_median_usd", "z_score", "threshold", "history_days"},
    "price.changed": {"changes", "source"},
    "channel.disabled": {"channel", "kind", "reason", "disabled_at"},
    "test.message": {"message", "requested_by"},
}


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((k, v))
            out.extend(_walk(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_walk(v, f"{path}[{i}]"))
    return out


def test_the_doc_has_one_example_per_event_type() -> None:
    examples = doc_examples()
    assert [ex["type"] for ex in examples] == list(EVENT_TYPES)


def test_every_schema_ships_and_is_a_valid_2020_12_schema() -> None:
    shipped = sorted(p.name.removesuffix(".json") for p in payloads.SCHEMA_DIR.glob("*.json"))
    assert shipped == sorted(payloads.schema_names())
    for name in payloads.schema_names():
        schema = schema_for(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema_rs.meta.validate(schema)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_example_validates(event_type: str) -> None:
    example = EXAMPLES[event_type]
    validate(ENVELOPE, example)
    validate(event_type, example["data"])
    webhook_send.encode_payload(example)  # what the sender itself accepts
    for key in PRESENTATION_KEYS:
        assert key in example["data"], key


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_missing_required_key_fails(event_type: str) -> None:
    schema = schema_for(event_type)
    data = EXAMPLES[event_type]["data"]
    assert set(schema["required"]) == EXPECTED_REQUIRED[event_type]
    for key in EXPECTED_REQUIRED[event_type]:
        broken = {k: v for k, v in data.items() if k != key}
        assert not is_valid(event_type, broken), key
        with pytest.raises(jsonschema_rs.ValidationError):
            validate(event_type, broken)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_nested_required_keys_are_enforced(event_type: str) -> None:
    data = EXAMPLES[event_type]["data"]
    for parent in ("scope", "period", "values"):
        if parent in data:
            for key in data[parent]:
                broken = copy.deepcopy(data)
                del broken[parent][key]
                assert not is_valid(event_type, broken), f"{parent}.{key}"
    if "changes" in data:
        for key in data["changes"][0]:
            broken = copy.deepcopy(data)
            del broken["changes"][0][key]
            assert not is_valid(event_type, broken), f"changes[0].{key}"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_extra_keys_are_allowed(event_type: str) -> None:
    assert is_valid(event_type, {**EXAMPLES[event_type]["data"], "added_later": {"x": 1}})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_amounts_are_decimal_strings(event_type: str) -> None:
    data = EXAMPLES[event_type]["data"]
    money = [(k, v) for k, v in _walk(data) if MONEY_KEY.search(k)]
    if event_type not in ("channel.disabled", "test.message"):
        assert money, "the example shows no amount"
    for key, value in money:
        assert value is None or isinstance(value, str), key
        if value is not None:
            Decimal(value)  # exact decimal text
            # the schema refuses the same value as a JSON number
            broken = json.loads(json.dumps(data).replace(f'"{key}": "{value}"', f'"{key}": {value}', 1))
            assert broken != data, key
            assert not is_valid(event_type, broken), key


def test_schema_types_every_money_key_as_a_decimal_string() -> None:
    for event_type in EVENT_TYPES:
        for key, prop in _walk(schema_for(event_type)["properties"]):
            if MONEY_KEY.search(key) and isinstance(prop, dict) and "type" in prop:
                assert "number" not in json.dumps(prop["type"]), (event_type, key)
                assert prop["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$", (event_type, key)


def test_schema_rejects_bad_values() -> None:
    data = EXAMPLES["budget.threshold_crossed"]["data"]
    bad_values = [
        ("scope", {"kind": "planet", "value": "x"}),
        ("amount_usd", "1e3"),
        ("amount_usd", "12.5 USD"),
        ("threshold", "80"),
        ("forecast_usd", 12.5),
        ("period", {**data["period"], "start": "yesterday"}),
    ]
    for key, value in bad_values:
        assert not is_valid("budget.threshold_crossed", {**data, key: value}), key
    assert is_valid("budget.threshold_crossed", {**data, "forecast_usd": None})
    forecast = EXAMPLES["budget.forecast_exceeded"]["data"]
    assert not is_valid("budget.forecast_exceeded", {**forecast, "forecast_usd": None})
    assert not is_valid("anomaly.detected", {**EXAMPLES["anomaly.detected"]["data"], "day": "20-11-2026"})
    assert not is_valid("budget.recovered", {**EXAMPLES["budget.recovered"]["data"], "reason": "magic"})
    assert not is_valid("rule.triggered", {**EXAMPLES["rule.triggered"]["data"], "window": "week"})
    assert not is_valid("price.changed", {**EXAMPLES["price.changed"]["data"], "changes": []})


def test_envelope_schema() -> None:
    example = EXAMPLES["test.message"]
    assert not is_valid(ENVELOPE, {**example, "extra": 1})
    assert not is_valid(ENVELOPE, {k: v for k, v in example.items() if k != "timestamp"})
    assert not is_valid(ENVELOPE, {**example, "type": "bad type!"})
    assert not is_valid(ENVELOPE, {**example, "data": []})
    assert not is_valid(ENVELOPE, {**example, "timestamp": "2026-11-20"})


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_webhook_data_rebuilds_the_documented_data(event_type: str) -> None:
    documented = EXAMPLES[event_type]["data"]
    notice = Notice(
        type=event_type,
        title=documented["title"],
        summary=documented["summary"],
        severity=documented["severity"],
        occurred_utc="2026-11-20T10:15:30.000000Z",
        fields=(("Irrelevant", "x"),),
        data={k: v for k, v in documented.items() if k not in PRESENTATION_KEYS},
        link=documented["link"],
    )
    out = webhook_data(notice)
    assert out == documented
    validate(event_type, out)
    assert out is not notice.data
    assert "title" not in notice.data  # the notice is not modified


def test_webhook_data_refuses_a_reserved_key() -> None:
    notice = Notice(type="test.message", title="t", summary="s", severity="info", occurred_utc="x",
                    data={"message": "m", "requested_by": None, "severity": "low"})
    with pytest.raises(ValueError, match="severity"):
        webhook_data(notice)


def test_schema_for() -> None:
    with pytest.raises(KeyError):
        schema_for("budget.unknown")
    first = schema_for("test.message")
    first["required"].append("mutated")
    assert "mutated" not in schema_for("test.message")["required"]
    assert schema_for(ENVELOPE)["required"] == ["type", "timestamp", "data"]
