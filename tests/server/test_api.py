"""The HTTP API in-process (real app, real SQLite file): ingestion (API-01..06), auth, RBAC."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentcost_cli.errors import StoreError
from agentcost_cli.store.base import EventFilter

from .conftest import PASSWORD, Api, seed_team

PROBLEM = "application/problem+json"


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"evt-{i}", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "input_tokens": 100, "output_tokens": 20, **extra}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def is_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


def login(api: Api, email: str = "owner@example.com") -> dict[str, Any]:
    response = api.client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_a_batch_is_stored_once_and_resent_ids_are_duplicates(api: Api) -> None:
    keys = seed_team(api.db)
    batch = {"events": [event(i) for i in range(5)]}
    first = api.client.post("/v1/events", json=batch, headers=bearer(keys["ingest"]))
    assert first.status_code == 200, first.text
    assert [s["status"] for s in first.json()["successes"]] == ["created"] * 5
    again = api.client.post("/v1/events", json=batch, headers=bearer(keys["ingest"]))
    assert [s["status"] for s in again.json()["successes"]] == ["duplicate"] * 5
    store = api.store()
    assert store.table_counts()["events"] == 5
    assert {p["slug"] for p in store.list_projects()} == {"web"}  # the key's project, not "default"
    single = api.client.post("/v1/events", json=event(9), headers={"X-API-Key": keys["ingest"]})
    assert single.json()["successes"] == [{"id": "evt-9", "status": "created"}]


def test_duplicates_inside_one_batch(api: Api) -> None:
    keys = seed_team(api.db)
    answer = api.client.post("/v1/events", json={"events": [event(1), event(1), event(2)]},
                             headers=bearer(keys["ingest"]))
    assert [s["status"] for s in answer.json()["successes"]] == ["created", "duplicate", "created"]


def test_a_mixed_batch_answers_207_and_stores_only_the_valid(api: Api) -> None:
    keys = seed_team(api.db)
    bad = event(2)
    del bad["model"]
    answer = api.client.post("/v1/events", json={"events": [event(1), bad, event(3, project="other")]},
                             headers=bearer(keys["ingest"]))
    assert answer.status_code == 207
    body = answer.json()
    assert [s["id"] for s in body["successes"]] == ["evt-1"]
    assert {(e["id"], e["pointer"]) for e in body["errors"]} == {("evt-2", "/events/1/model"),
                                                                  ("evt-3", "/events/2/project")}
    assert api.store().count_events(EventFilter()) == 1


def test_two_bad_fields_give_two_errors_with_pointers(api: Api) -> None:
    keys = seed_team(api.db)
    answer = api.client.post("/v1/events", json=event(1, input_tokens=-5, output_tokens="many"),
                             headers=bearer(keys["ingest"]))
    body = is_problem(answer, 422, "validation-error")
    assert sorted(e["pointer"] for e in body["errors"]) == ["/events/0/input_tokens", "/events/0/output_tokens"]


def test_an_event_without_an_id_is_rejected(api: Api) -> None:
    keys = seed_team(api.db)
    no_id = event(1)
    del no_id["id"]
    body = is_problem(api.client.post("/v1/events", json=no_id, headers=bearer(keys["ingest"])), 422,
                      "validation-error")
    assert body["errors"][0]["pointer"] == "/events/0/id"


def test_size_and_count_limits_answer_413(api: Api) -> None:
    keys = seed_team(api.db)
    padding = "x" * (1_048_576 + 1 - len(json.dumps({"events": [event(1, metadata={"p": ""})]})))
    big = json.dumps({"events": [event(1, metadata={"p": padding})]})
    assert len(big.encode()) == 1_048_576 + 1
    is_problem(api.client.post("/v1/events", content=big, headers={**bearer(keys["ingest"]),
                                                                   "Content-Type": "application/json"}),
               413, "payload-too-large")
    many = {"events": [event(i) for i in range(1001)]}
    is_problem(api.client.post("/v1/events", json=many, headers=bearer(keys["ingest"])), 413, "payload-too-large")
    assert api.store().table_counts()["events"] == 0


def test_errors_are_problem_documents(api: Api) -> None:
    keys = seed_team(api.db)
    is_problem(api.client.get("/v1/nothing-here"), 404, "not-found")
    is_problem(api.client.post("/v1/events", json=[event(1)]), 401, "unauthenticated")
    is_problem(api.client.post("/v1/events", content=b"{not json", headers={**bearer(keys["ingest"]),
                                                                           "Content-Type": "application/json"}),
               400, "malformed-json")
    bad_key = keys["ingest"][:-1] + ("A" if keys["ingest"][-1] != "A" else "B")
    is_problem(api.client.post("/v1/events", json=event(1), headers=bearer(bad_key)), 401, "unauthenticated")
    is_problem(api.client.get("/problems/nope"), 404, "not-found")
    assert api.client.get("/problems/rate-limited").json()["status"] == 429


def test_an_unexpected_failure_is_a_500_problem_without_a_traceback(api: Api,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    keys = seed_team(api.db)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("agentcost_cli.services.projects.list_projects", boom)
    body = is_problem(api.client.get("/v1/projects", headers=bearer(keys["read"])), 500, "internal-error")
    assert "secret internals" not in json.dumps(body)


def test_a_store_failure_acknowledges_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """API-06: no 2xx before the commit; a failed write answers 503 and stores nothing."""
    keys = seed_team(api.db)
    from agentcost_cli.store.sqlite import SqliteStore

    def failing_insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(SqliteStore, "insert_prepared", failing_insert)
    is_problem(api.client.post("/v1/events", json={"events": [event(1), event(2)]}, headers=bearer(keys["ingest"])),
               503, "unavailable")
    monkeypatch.undo()
    assert api.store().table_counts()["events"] == 0


def test_an_ingest_key_is_refused_on_admin_routes(api: Api) -> None:
    """KEY-03."""
    keys = seed_team(api.db)
    is_problem(api.client.get("/v1/keys", params={"project": "web"}, headers=bearer(keys["ingest"])), 403,
               "forbidden")
    assert api.client.get("/v1/keys", params={"project": "web"}, headers=bearer(keys["admin"])).status_code == 200
    listed = api.client.get("/v1/keys", headers=bearer(keys["admin"])).json()["items"]
    assert listed and all(k["display"].startswith("ac_live_") and "key" not in k for k in listed)  # KEY-02
    assert not any(secret in json.dumps(listed) for secret in keys.values())


def test_unknown_and_revoked_keys_get_the_same_answer(api: Api) -> None:
    """KEY-06 (and KEY-04: revocation is immediate)."""
    keys = seed_team(api.db)
    session = login(api)
    listed = api.client.get("/v1/keys", headers=bearer(session["access_token"])).json()["items"]
    ingest_id = next(k["id"] for k in listed if k["name"] == "ingest")
    assert api.client.delete(f"/v1/keys/{ingest_id}", headers=bearer(session["access_token"])).status_code == 200
    from agentcost_cli.auth.apikeys import generate_key

    revoked = api.client.post("/v1/events", json=event(1), headers=bearer(keys["ingest"]))
    unknown = api.client.post("/v1/events", json=event(1), headers=bearer(generate_key()))
    assert revoked.status_code == unknown.status_code == 401 and revoked.json() == unknown.json()


def test_only_a_refused_bearer_token_is_invalid_token(api: Api) -> None:
    """RFC 6750: `error="invalid_token"` tells a client a refreshed token may work; a wrong
    password in the body must not say so, or the client would send it twice."""
    keys = seed_team(api.db)
    from agentcost_cli.auth.apikeys import generate_key

    unknown = api.client.post("/v1/events", json=event(1), headers=bearer(generate_key()))
    assert unknown.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    stale = api.client.get("/v1/me", headers=bearer("not.a.jwt"))
    assert stale.status_code == 401 and stale.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    missing = api.client.get("/v1/me")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    session = login(api)
    wrong = api.client.post("/v1/me/password", headers=bearer(session["access_token"]),
                            json={"current_password": "not my password", "new_password": "a brand new passphrase"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert keys


def test_login_refresh_me_and_logout(api: Api) -> None:
    seed_team(api.db)
    session = login(api)
    me = api.client.get("/v1/me", headers=bearer(session["access_token"]))
    assert me.json()["email"] == "owner@example.com" and me.json()["projects"] == {"web": "owner"}
    renewed = api.client.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}).json()
    assert renewed["refresh_token"] != session["refresh_token"]
    replay = api.client.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    is_problem(replay, 401, "unauthenticated")
    is_problem(api.client.get("/v1/me", headers=bearer(renewed["access_token"])), 401, "unauthenticated")
    second = login(api)
    assert api.client.post("/v1/auth/logout", json={"refresh_token": second["refresh_token"]}).status_code == 204
    is_problem(api.client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401,
               "unauthenticated")


def test_wrong_passwords_and_unknown_emails_answer_alike(api: Api) -> None:
    seed_team(api.db)
    wrong = api.client.post("/v1/auth/login", json={"email": "owner@example.com", "password": "not it at all"})
    ghost = api.client.post("/v1/auth/login", json={"email": "ghost@example.com", "password": "not it at all"})
    assert wrong.status_code == ghost.status_code == 401 and wrong.json() == ghost.json()


def test_api_keys_cannot_use_account_routes(api: Api) -> None:
    keys = seed_team(api.db)
    is_problem(api.client.get("/v1/me", headers=bearer(keys["admin"])), 401, "unauthenticated")


def test_reset_links_use_the_public_url_not_the_host_header(api: Api) -> None:
    """AU-07."""
    seed_team(api.db)
    answer = api.client.post("/v1/auth/forgot-password", json={"email": "owner@example.com"},
                             headers={"Host": "evil.test"})
    ghost = api.client.post("/v1/auth/forgot-password", json={"email": "ghost@example.com"},
                            headers={"Host": "evil.test"})
    assert answer.status_code == ghost.status_code == 202 and answer.json() == ghost.json()
    from agentcost_cli.services import outbox
    from agentcost_cli.services.actor import LOCAL

    store = api.store()
    message = next(m for m in outbox.list_messages(store, LOCAL) if m["template"] == "password_reset")
    body = outbox.show_message(store, LOCAL, message["id"])["body"]
    assert "https://costs.example.org/reset-password?token=" in body and "evil.test" not in body


def test_the_report_matches_the_service_and_respects_roles(api: Api) -> None:
    keys = seed_team(api.db)
    api.client.post("/v1/events", json={"events": [event(i) for i in range(3)]}, headers=bearer(keys["ingest"]))
    from agentcost_cli.services.actor import LOCAL
    from agentcost_cli.services.reports import ReportRequest, build_report, parse_group_by

    expected = build_report(api.store(), LOCAL, ReportRequest(group_by=parse_group_by("day,model"))).as_json()
    viewer = login(api, "viewer@example.com")
    got = api.client.get("/v1/report", params={"by": "day,model"}, headers=bearer(viewer["access_token"]))
    assert got.status_code == 200 and got.json() == expected
    is_problem(api.client.get("/v1/report", headers=bearer(keys["ingest"])), 403, "forbidden")


def test_the_export_streams_csv_for_readers(api: Api) -> None:
    keys = seed_team(api.db)
    api.client.post("/v1/events", json={"events": [event(i) for i in range(3)]}, headers=bearer(keys["ingest"]))
    csv_text = api.client.get("/v1/export/events", headers=bearer(keys["read"])).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,timestamp,project") and len(lines) == 4


def test_projects_members_and_keys_over_http(api: Api) -> None:
    seed_team(api.db)
    token = login(api)["access_token"]
    created = api.client.post("/v1/projects", json={"slug": "mobile"}, headers=bearer(token))
    assert created.status_code == 201 and created.json()["role"] == "owner"
    shared = api.client.put("/v1/projects/mobile/members/viewer@example.com", json={"role": "member"},
                            headers=bearer(token))
    assert shared.json()["role"] == "member"
    new_key = api.client.post("/v1/projects/mobile/keys", json={"name": "ci", "scopes": ["ingest"]},
                              headers=bearer(token))
    assert new_key.status_code == 201 and new_key.json()["key"].startswith("ac_live_")
    page = api.client.get("/v1/projects", params={"limit": 1}, headers=bearer(token)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.client.get("/v1/projects", params={"limit": 1, "cursor": page["next_cursor"]},
                          headers=bearer(token)).json()
    assert {page["items"][0]["slug"], rest["items"][0]["slug"]} == {"mobile", "web"} and rest["next_cursor"] is None
    viewer = login(api, "viewer@example.com")["access_token"]
    is_problem(api.client.delete("/v1/projects/web", headers=bearer(viewer)), 403, "forbidden")
    is_problem(api.client.get("/v1/users", headers=bearer(viewer)), 403, "forbidden")


def test_docs_are_served_without_a_cdn(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = api.client.get(page).text
        assert "/docs-assets/" in html and "cdn.jsdelivr" not in html and "googleapis" not in html, page
    script = api.client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    spec = api.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "agentcost" and "/v1/events" in spec["paths"]


def _client_with_limits(tmp_path: Any, **limits: str) -> Any:
    from starlette.testclient import TestClient

    from agentcost_cli.server.app import create_app
    from agentcost_cli.server.config import DEFAULT_LIMITS, ServerConfig

    db = tmp_path / "limited.db"
    config = ServerConfig(store_path=str(db), limits={**DEFAULT_LIMITS, **limits})
    return TestClient(create_app(config), raise_server_exceptions=False), db


def test_every_api_answer_announces_its_limits_and_429s_say_when_to_retry(tmp_path: Any) -> None:
    client, db = _client_with_limits(tmp_path, key_requests="3/minute")
    with client:
        keys = seed_team(db)
        unauthenticated = client.get("/v1/projects")
        assert unauthenticated.status_code == 401 and '"ip_requests"' in unauthenticated.headers["ratelimit-policy"]
        answers = [client.get("/v1/projects", headers=bearer(keys["read"])) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = is_problem(answers[-1], 429, "rate-limited")
    assert "key_requests" in limited["detail"]
    header = answers[-1].headers["ratelimit"]
    assert header.startswith('"key_requests";r=0;t=') and answers[-1].headers["retry-after"] == header.rsplit("=", 1)[1]


def test_one_key_cannot_flood_the_store(tmp_path: Any) -> None:
    """A per-key ceiling on events, not just requests: a batch costs its size."""
    client, db = _client_with_limits(tmp_path, key_events="150/minute")
    with client:
        keys = seed_team(db)
        first = client.post("/v1/events", json={"events": [event(i) for i in range(100)]},
                            headers=bearer(keys["ingest"]))
        second = client.post("/v1/events", json={"events": [event(100 + i) for i in range(100)]},
                             headers=bearer(keys["ingest"]))
    assert first.status_code == 200 and second.status_code == 429
    from agentcost_cli.store import open_store

    assert open_store(db).table_counts()["events"] == 100


def test_sign_in_is_limited_per_address(tmp_path: Any) -> None:
    client, db = _client_with_limits(tmp_path, auth_ip="3/minute")
    with client:
        seed_team(db)
        codes = [client.post("/v1/auth/login", json={"email": "owner@example.com", "password": "wrong one!!"}
                             ).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_sign_in_answers_are_never_cached(api: Api) -> None:
    seed_team(api.db)
    answer = api.client.post("/v1/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    me = api.client.get("/v1/me", headers=bearer(answer.json()["access_token"]))
    assert me.headers["cache-control"] == "no-store"
