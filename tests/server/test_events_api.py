"""`GET /v1/events` and `GET /v1/events/{project}/{event_id}`: pages for readers, 4xx on odd input."""

from __future__ import annotations

import pytest

from .conftest import Api, seed_team
from .test_api import bearer, event, is_problem


@pytest.fixture
def keys(api: Api) -> dict[str, str]:
    found = seed_team(api.db)
    batch = [event(i, timestamp=f"2026-11-20T10:0{i}:00Z") for i in range(3)]
    stored = api.client.post("/v1/events", json={"events": batch}, headers=bearer(found["ingest"]))
    assert stored.status_code == 200
    return found


def test_readers_page_through_events(api: Api, keys: dict[str, str]) -> None:
    first = api.client.get("/v1/events", params={"limit": 2}, headers=bearer(keys["read"]))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["events"]) == 2 and page["next_cursor"]
    assert [e["id"] for e in page["events"]] == ["evt-2", "evt-1"]
    rest = api.client.get("/v1/events", params={"limit": 2, "cursor": page["next_cursor"]},
                          headers=bearer(keys["read"])).json()
    assert len(rest["events"]) == 1 and rest["next_cursor"] is None
    one = page["events"][0]
    shown = api.client.get(f"/v1/events/{one['project']}/{one['id']}", headers=bearer(keys["read"]))
    assert shown.status_code == 200 and shown.json()["cost_usd"] == one["cost_usd"]
    assert isinstance(shown.json()["price_breakdown"], list)
    is_problem(api.client.get("/v1/events", headers=bearer(keys["ingest"])), 403, "forbidden")
    is_problem(api.client.get(f"/v1/events/web/{one['id']}", headers=bearer(keys["ingest"])), 404, "not-found")


@pytest.mark.parametrize("params", [
    {"cursor": "junk"}, {"limit": 0}, {"limit": 501}, {"limit": "x"}, {"tag": "novalue"},
    {"since": "tomorrow-ish"}, {"since": "2026-11-21", "until": "2026-11-20"}, {"tz": "Mars/Base"},
    {"search": "x" * 201}, {"since": "0001-01-01T00:00:00+14:00"},
])
def test_odd_input_is_a_4xx(api: Api, keys: dict[str, str], params: dict[str, object]) -> None:
    answer = api.client.get("/v1/events", params=params, headers=bearer(keys["read"]))
    assert 400 <= answer.status_code < 500, (params, answer.status_code, answer.text)


def test_unknown_events_are_404(api: Api, keys: dict[str, str]) -> None:
    for path in ("/v1/events/web/nope", "/v1/events/nope/nope"):
        is_problem(api.client.get(path, headers=bearer(keys["read"])), 404, "not-found")


def test_report_filters_by_user_and_tag(api: Api, keys: dict[str, str]) -> None:
    everything = api.client.get("/v1/report", headers=bearer(keys["read"])).json()["totals"]["events"]
    assert everything == 3
    bad = api.client.get("/v1/report", params={"tag": "x"}, headers=bearer(keys["read"]))
    assert bad.status_code == 422
    none = api.client.get("/v1/report", params={"user": "nobody", "tag": "a=b"}, headers=bearer(keys["read"]))
    assert none.status_code == 200 and none.json()["totals"]["events"] == 0
