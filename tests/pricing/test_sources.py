"""Snapshot refresh: fetch (against a real local HTTP server), parse, validate and diff.

Nothing here touches the internet: every URL is 127.0.0.1 on a port the OS picked.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentcost_cli.errors import PricingError
from agentcost_cli.pricing import sources
from agentcost_cli.pricing.catalog import Catalog, Layer, bundled_layer
from agentcost_cli.pricing.engine import Pricer
from agentcost_cli.pricing.litellm import LITELLM_CHECKED_PROVIDERS, map_provider
from agentcost_cli.pricing.sources import (
    PriceChange,
    diff_catalogs,
    fetch_snapshot,
    parse_snapshot,
    validate_snapshot,
)

LOCAL = Path(__file__).resolve().parents[1] / "fixtures" / "pricing"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "pricing"
GENAI_BYTES = (LOCAL / "genai_prices_data_v2.json").read_bytes()
LITELLM_BYTES = (LOCAL / "litellm_subset.json").read_bytes()
ETAG = '"genai-v2-a616d829"'
LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"
AT = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _raw_genai() -> list[dict[str, Any]]:
    raw: list[dict[str, Any]] = json.loads(GENAI_BYTES, parse_float=Decimal)
    return raw


def _dump(raw: Any) -> bytes:
    # Decimals become JSON strings, which genai-prices' parser accepts as exact numbers.
    return json.dumps(raw, default=str).encode()


def _shrink(raw: list[dict[str, Any]], keep_total: int) -> list[dict[str, Any]]:
    """Trim the largest providers (never below one model) until at most keep_total models remain."""
    out = copy.deepcopy(raw)
    total = sum(len(p["models"]) for p in out)
    for provider in sorted(out, key=lambda p: -len(p["models"])):
        excess = total - keep_total
        if excess <= 0:
            break
        drop = min(excess, len(provider["models"]) - 1)
        provider["models"] = provider["models"][: len(provider["models"]) - drop]
        total -= drop
    return out


def _without_provider_models(raw: list[dict[str, Any]], provider_id: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(raw)
    for provider in out:
        if provider["id"] == provider_id:
            provider["models"] = []
    return out


# ---------------------------------------------------------------- the local server


class _Server:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler, int], None]] = {}
        self.base = ""

    def url(self, path: str) -> str:
        return self.base + path


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"",
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if status != 304:
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if status != 304:
        handler.wfile.write(body)


def _conditional(body: bytes, etag: str) -> Callable[[BaseHTTPRequestHandler, int], None]:
    def route(handler: BaseHTTPRequestHandler, hit: int) -> None:
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if handler.headers.get("If-None-Match") == etag or handler.headers.get("If-Modified-Since") == LAST_MODIFIED:
            _send(handler, 304, headers=validators)
        else:
            _send(handler, 200, body, validators)

    return route


def _status_then_ok(status: int, retry_after: str | None, body: bytes) -> Callable[[BaseHTTPRequestHandler, int], None]:
    def route(handler: BaseHTTPRequestHandler, hit: int) -> None:
        if hit == 1:
            _send(handler, status, b'{"error": "slow down"}', {"Retry-After": retry_after} if retry_after else None)
        else:
            _send(handler, 200, body)

    return route


def _always(status: int, headers: dict[str, str] | None = None) -> Callable[[BaseHTTPRequestHandler, int], None]:
    return lambda handler, hit: _send(handler, status, b"{}", headers)


def _hang(handler: BaseHTTPRequestHandler, hit: int) -> None:
    time.sleep(1.0)
    try:
        _send(handler, 200, b"[]")
    except OSError:
        pass  # the client gave up long ago


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    state = _Server()
    raw = _raw_genai()
    state.routes.update({
        "/genai.json": _conditional(GENAI_BYTES, ETAG),
        "/litellm.json": _conditional(LITELLM_BYTES, '"litellm-subset"'),
        "/flaky": _status_then_ok(429, "0", GENAI_BYTES),
        "/flaky-date": _status_then_ok(503, "Wed, 21 Oct 2015 07:28:00 GMT", GENAI_BYTES),
        "/flaky-no-header": _status_then_ok(502, None, GENAI_BYTES),
        "/always-500": _always(500),
        "/rate-limited-long": _always(429, {"Retry-After": "3600"}),
        "/forbidden": _always(403),
        "/redirect": _always(302, {"Location": "/genai.json"}),
        "/truncated": _always_body(GENAI_BYTES[: len(GENAI_BYTES) * 2 // 5]),
        "/shrunk": _always_body(_dump(_shrink(raw, 2330 // 2 - 1))),
        "/hang": _hang,
    })

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.hits[self.path] += 1
            state.headers[self.path] = dict(self.headers)
            route = state.routes.get(self.path.partition("?")[0])
            if route is None:
                _send(self, 404, b'{"error": "not found"}')
            else:
                route(self, state.hits[self.path])

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _always_body(body: bytes) -> Callable[[BaseHTTPRequestHandler, int], None]:
    return lambda handler, hit: _send(handler, 200, body)


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries sleep through sources._sleep; record the waits instead of waiting."""
    recorded: list[float] = []
    monkeypatch.setattr(sources, "_sleep", recorded.append)
    return recorded


# ---------------------------------------------------------------- fetch


def test_fetch_ok_then_304_with_etag(server: _Server) -> None:
    first = fetch_snapshot(server.url("/genai.json"), timeout=5)
    assert (first.status, first.etag, first.last_modified) == ("ok", ETAG, LAST_MODIFIED)
    assert first.content == GENAI_BYTES
    assert first.url == server.url("/genai.json")
    assert server.headers["/genai.json"]["User-Agent"].startswith("agentcost/")

    again = fetch_snapshot(server.url("/genai.json"), timeout=5, etag=first.etag)
    assert (again.status, again.content, again.etag) == ("not-modified", None, ETAG)
    assert server.headers["/genai.json"]["If-None-Match"] == ETAG


def test_fetch_304_on_if_modified_since(server: _Server) -> None:
    result = fetch_snapshot(server.url("/genai.json"), timeout=5, last_modified=LAST_MODIFIED)
    assert result.status == "not-modified"
    assert result.last_modified == LAST_MODIFIED
    assert "If-None-Match" not in server.headers["/genai.json"]


def test_fetch_stale_etag_gets_full_body(server: _Server) -> None:
    result = fetch_snapshot(server.url("/litellm.json"), timeout=5, etag='"something-older"')
    assert result.status == "ok"
    assert result.content == LITELLM_BYTES
    assert result.etag == '"litellm-subset"'


def test_fetch_retries_429_honouring_retry_after(server: _Server, sleeps: list[float]) -> None:
    url = server.url("/flaky?case=429")
    result = fetch_snapshot(url, timeout=5)
    assert result.status == "ok"
    assert result.content == GENAI_BYTES
    assert server.hits["/flaky?case=429"] == 2
    assert sleeps == [0.0]  # Retry-After: 0, not the exponential backoff


def test_fetch_retry_after_http_date_in_the_past_means_now(server: _Server, sleeps: list[float]) -> None:
    result = fetch_snapshot(server.url("/flaky-date"), timeout=5)
    assert result.status == "ok"
    assert sleeps == [0.0]


def test_fetch_5xx_without_retry_after_backs_off(server: _Server, sleeps: list[float]) -> None:
    assert fetch_snapshot(server.url("/flaky-no-header"), timeout=5).status == "ok"
    assert len(sleeps) == 1
    assert sources.BACKOFF_BASE_S <= sleeps[0] <= sources.BACKOFF_BASE_S * 1.25


def test_fetch_500_forever_gives_up_after_three_tries(server: _Server, sleeps: list[float]) -> None:
    url = server.url("/always-500")
    with pytest.raises(PricingError) as info:
        fetch_snapshot(url, timeout=5)
    assert server.hits["/always-500"] == sources.MAX_TRIES == 3
    assert url in info.value.message
    assert "HTTP 500" in info.value.message
    assert "3 tries" in info.value.message
    assert len(sleeps) == 2  # no pointless wait after the last try
    assert sleeps[1] > sleeps[0]


def test_fetch_long_retry_after_fails_at_once(server: _Server, sleeps: list[float]) -> None:
    with pytest.raises(PricingError, match="retry after 3600 s"):
        fetch_snapshot(server.url("/rate-limited-long"), timeout=5)
    assert server.hits["/rate-limited-long"] == 1
    assert sleeps == []


@pytest.mark.parametrize(("path", "status"), [("/forbidden", 403), ("/no-such-file.json", 404)])
def test_fetch_4xx_is_not_retried(server: _Server, sleeps: list[float], path: str, status: int) -> None:
    url = server.url(path)
    with pytest.raises(PricingError) as info:
        fetch_snapshot(url, timeout=5)
    assert f"HTTP {status}" in info.value.message
    assert url in info.value.message
    assert server.hits[path] == 1
    assert sleeps == []


def test_fetch_follows_redirects(server: _Server) -> None:
    result = fetch_snapshot(server.url("/redirect"), timeout=5)
    assert result.status == "ok"
    assert result.content == GENAI_BYTES


def test_fetch_connection_refused_names_the_url(sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.json"
    with pytest.raises(PricingError) as info:
        fetch_snapshot(url, timeout=2)
    assert url in info.value.message
    assert "ConnectError" in info.value.message
    assert len(sleeps) == 2


def test_fetch_timeout_is_a_clear_error(server: _Server) -> None:
    with pytest.raises(PricingError, match="Timeout"):
        fetch_snapshot(server.url("/hang"), timeout=0.2)
    assert server.hits["/hang"] == 3


def test_fetch_local_file(tmp_path: Path) -> None:
    result = fetch_snapshot(str(LOCAL / "litellm_subset.json"), timeout=1)
    assert (result.status, result.etag, result.last_modified) == ("ok", None, None)
    assert result.content == LITELLM_BYTES
    assert fetch_snapshot(f"file://{LOCAL / 'litellm_subset.json'}", timeout=1).content == LITELLM_BYTES
    with pytest.raises(PricingError, match="cannot read price snapshot"):
        fetch_snapshot(str(tmp_path / "missing.json"), timeout=1)


def test_fetched_truncated_json_fails_to_parse(server: _Server) -> None:
    result = fetch_snapshot(server.url("/truncated"), timeout=5)
    assert result.status == "ok"
    assert result.content is not None
    with pytest.raises(PricingError, match="not valid JSON"):
        parse_snapshot(result.content)


def test_fetched_shrunk_snapshot_is_refused(server: _Server) -> None:
    content = fetch_snapshot(server.url("/shrunk"), timeout=5).content
    assert content is not None
    parsed = parse_snapshot(content)
    assert parsed.model_count == 1164
    with pytest.raises(PricingError) as info:
        validate_snapshot(parsed, bundled_layer().providers)
    assert "1,164 models" in info.value.message
    assert "2,330" in info.value.message


# ---------------------------------------------------------------- parse: genai-prices


@pytest.fixture(scope="module")
def genai() -> sources.ParsedSnapshot:
    return parse_snapshot(GENAI_BYTES)


def test_parse_genai_counts(genai: sources.ParsedSnapshot) -> None:
    assert genai.format == "genai-prices-v2"
    assert (genai.provider_count, genai.model_count) == (47, 2330)
    assert len(genai.providers) == 47


def test_parse_genai_matches_the_bundled_data(genai: sources.ParsedSnapshot) -> None:
    bundled = {p.id: p for p in bundled_layer().providers}
    for provider in genai.providers:
        if provider.id not in ("huggingface_together", "openrouter"):  # the two with float artifacts
            assert provider == bundled[provider.id], provider.id


def test_parse_genai_quantizes_float_artifacts(genai: sources.ParsedSnapshot) -> None:
    assert len(genai.warnings) == 28
    assert (
        "huggingface_together/meta-llama/Llama-3.3-70B-Instruct: input_mtok=1.0399999999999998 "
        "is a float artifact; using 1.04"
    ) in genai.warnings
    assert "openrouter/google/gemini-2.5-flash: cache_write_mtok=0.0833333333333333 is a float artifact; " \
        "using 0.0833333333333" in genai.warnings
    provider = next(p for p in genai.providers if p.id == "huggingface_together")
    model = next(m for m in provider.models if m.id == "meta-llama/Llama-3.3-70B-Instruct")
    prices = model.get_prices(AT)
    assert (prices.input_mtok, prices.output_mtok) == (Decimal("1.04"), Decimal("1.04"))


def test_parse_genai_snapshot_prices_like_the_bundled_catalog(genai: sources.ParsedSnapshot) -> None:
    from agentcost_cli.models import UsageEvent

    event = UsageEvent(timestamp="2026-11-20T12:00:00.000000Z", provider="openai", model="gpt-4o",
                       input_tokens=6000, cache_read_tokens=4000, output_tokens=500)
    snapshot = Pricer(Catalog([Layer("snapshot:test", genai.providers), bundled_layer()]))
    assert snapshot.quote(event).cost_nanos == Pricer(Catalog([bundled_layer()])).quote(event).cost_nanos == 25_000_000


def test_parse_accepts_string_numbers_and_a_bom() -> None:
    raw = _raw_genai()
    parsed = parse_snapshot(b"\xef\xbb\xbf" + _dump(raw))  # Decimals written as strings
    assert parsed.model_count == 2330


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (GENAI_BYTES[:1000], "not valid JSON"),
        (b'{"gpt-4o": {"input_cost_per_token": 1e-06}}', "not a price snapshot"),
        (b'"just a string"', "not a price snapshot"),
        (b"42", "not a price snapshot"),
        (b'[{"id": "x"}]', "item 0 is not a provider"),
        (b'[{"id": "x", "models": []}, 7]', "item 1 is not a provider"),
        (b'[{"id": "x", "models": []}]', r"does not match the v2 schema: 0\.name: Field required"),
        (b'[{"id": "x", "name": "X", "api_pattern": "x", "models": [{"id": "m"}]}]', "v2 schema"),
        (b'[{"id": "x", "name": "X", "api_pattern": "x", "models": [{"id": "m", "match": {"equals": "m"},'
         b' "prices": {"input_mtok": "cheap"}}]}]', "v2 schema"),
        (b'{"sample_spec": {}, "gpt-4o": [1, 2]}', "entry 'gpt-4o' is a list"),
    ],
)
def test_parse_rejects_what_is_neither_format(content: bytes, message: str) -> None:
    with pytest.raises(PricingError, match=message):
        parse_snapshot(content)


def test_parse_empty_genai_list_has_zero_models_and_is_refused() -> None:
    parsed = parse_snapshot(b"[]")
    assert (parsed.format, parsed.model_count) == ("genai-prices-v2", 0)
    with pytest.raises(PricingError, match="no models"):
        validate_snapshot(parsed, bundled_layer().providers)


# ---------------------------------------------------------------- parse: LiteLLM


@pytest.fixture(scope="module")
def litellm() -> sources.ParsedSnapshot:
    return parse_snapshot(LITELLM_BYTES)


def _model(parsed: sources.ParsedSnapshot, provider_id: str, model_id: str) -> Any:
    provider = next(p for p in parsed.providers if p.id == provider_id)
    return next(m for m in provider.models if m.id == model_id)


def test_parse_litellm_counts(litellm: sources.ParsedSnapshot) -> None:
    raw = json.loads(LITELLM_BYTES)
    priced = [
        key for key, entry in raw.items()
        if key != "sample_spec" and "alias_of" not in entry
        and entry.get("input_cost_per_token") is not None and entry.get("output_cost_per_token") is not None
    ]
    assert litellm.format == "litellm"
    assert len(raw) - 1 == 199
    assert litellm.model_count == len(priced) == 172
    assert litellm.provider_count == 43
    assert litellm.provider_count == len({map_provider(raw[key]["litellm_provider"]) for key in priced})


def test_parse_litellm_maps_providers(litellm: sources.ParsedSnapshot) -> None:
    ids = {p.id for p in litellm.providers}
    assert {"openai", "anthropic", "google", "aws", "azure", "x-ai", "mistral", "deepseek", "groq", "together",
            "fireworks", "cohere", "perplexity", "moonshotai", "voyageai", "github-copilot"} <= ids
    assert not ids & {"gemini", "vertex_ai", "vertex_ai-anthropic_models", "bedrock", "bedrock_converse", "xai",
                      "together_ai", "fireworks_ai", "azure_ai"}
    assert {"deepinfra", "amazon_nova", "opencode_go"} <= ids  # no genai-prices counterpart: name kept
    assert _model(litellm, "google", "vertex_ai/claude-3-5-haiku@20241022")
    assert _model(litellm, "aws", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert _model(litellm, "aws", "bedrock_mantle/openai.gpt-oss-120b")
    assert _model(litellm, "azure", "azure_ai/claude-opus-4-5")
    google = next(p for p in litellm.providers if p.id == "google")
    assert google.fallback_model_providers == ["anthropic"]  # matching metadata from genai-prices
    assert google.description.startswith("Converted from LiteLLM (litellm_provider: gemini, vertex_ai")


def test_parse_litellm_rates_are_exact_per_mtok(litellm: sources.ParsedSnapshot) -> None:
    prices = _model(litellm, "openai", "gpt-4o").get_prices(AT)
    assert (prices.input_mtok, prices.output_mtok, prices.cache_read_mtok) == (
        Decimal("2.5"), Decimal("10"), Decimal("1.25"))
    claude = _model(litellm, "anthropic", "claude-sonnet-4-5").get_prices(AT)
    assert (claude.cache_write_mtok, claude.cache_write_1h_mtok) == (Decimal("3.75"), Decimal("6"))
    assert str(claude.cache_read_mtok) == "0.3"


def test_parse_litellm_tiers_become_cliffs(litellm: sources.ParsedSnapshot) -> None:
    from genai_prices.types import Tier, TieredPrices

    prices = _model(litellm, "google", "gemini/gemini-2.5-pro").get_prices(AT)
    assert prices.input_mtok == TieredPrices(base=Decimal("1.25"), tiers=[Tier(start=200000, price=Decimal("2.5"))])
    assert prices.output_mtok == TieredPrices(base=Decimal("10"), tiers=[Tier(start=200000, price=Decimal("15"))])
    gpt55 = _model(litellm, "openai", "gpt-5.5").get_prices(AT)
    assert gpt55.input_mtok.tiers == [Tier(start=272000, price=Decimal("10"))]
    bedrock = _model(litellm, "aws", "anthropic.claude-sonnet-4-5-20250929-v1:0").get_prices(AT)
    assert bedrock.cache_write_1h_mtok.tiers[0].start == 200000  # _above_1hr_above_200k_tokens


def test_parse_litellm_variants(litellm: sources.ParsedSnapshot) -> None:
    model = _model(litellm, "openai", "gpt-5")
    assert [v.when for v in model.price_variants] == [
        {"processing": "batch"}, {"service_tier": "flex"}, {"service_tier": "priority"}]
    batch = model.get_prices(AT, {"processing": "batch"})
    assert (batch.input_mtok, batch.output_mtok) == (Decimal("0.625"), Decimal("5"))
    priority = model.get_prices(AT, {"service_tier": "priority"})
    assert priority.output_mtok == Decimal("20")
    gemini_batch = _model(litellm, "google", "gemini/gemini-2.5-pro").get_prices(AT, {"processing": "batch"})
    assert gemini_batch.input_mtok.base == Decimal("0.625")
    assert gemini_batch.input_mtok.tiers[0].price == Decimal("1.25")


def test_parse_litellm_skips_aliases_and_unpriced_rows(litellm: sources.ParsedSnapshot) -> None:
    ids = {m.id for p in litellm.providers for m in p.models}
    assert "sample_spec" not in ids
    assert "bedrock/claude-fable-latest" not in ids  # alias_of row
    assert "gemini/gemini-embedding-001" in ids  # has both rates (output 0)
    assert not any(m.id.startswith("dall-e") for p in litellm.providers for m in p.models)


def test_parse_litellm_drops_a_tier_without_base(litellm: sources.ParsedSnapshot) -> None:
    vertex = _model(litellm, "google", "gemini-2.5-pro").get_prices(AT)
    assert vertex.cache_write_mtok is None  # only cache_creation_input_token_cost_above_200k_tokens exists
    assert "litellm gemini-2.5-pro: cache_write_mtok has a tier above 200000 but no base rate; dropped" in \
        litellm.warnings


def test_parse_litellm_float_artifacts(litellm: sources.ParsedSnapshot) -> None:
    artifacts = [w for w in litellm.warnings if "float artifact" in w]
    assert len(artifacts) == 8
    assert (
        "litellm novita/moonshotai/kimi-k2.7-code: input_cost_per_token=9.499999999999999E-7 "
        "is a float artifact; using 0.95 per MTok"
    ) in artifacts
    assert _model(litellm, "databricks", "databricks/databricks-claude-sonnet-4-1").get_prices(AT).input_mtok == \
        Decimal("2.99999")
    summary = [w for w in litellm.warnings if "ignored" in w]
    assert len(summary) == 1
    assert "search_context_cost_per_query (40)" in summary[0]


def test_parse_litellm_skips_an_entry_with_a_bad_rate() -> None:
    raw = {
        "sample_spec": {"input_cost_per_token": "0.0"},
        "good": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "text": {"litellm_provider": "openai", "input_cost_per_token": "0.000001", "output_cost_per_token": 2e-06},
        "negative": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": -1e-06},
        "no-output": {"litellm_provider": "openai", "input_cost_per_token": 1e-06},
        "no-provider": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
    }
    parsed = parse_snapshot(json.dumps(raw).encode())
    assert [m.id for p in parsed.providers for m in p.models] == ["good"]
    assert parsed.warnings == [
        "litellm text: skipped, input_cost_per_token='0.000001' is not a non-negative number",
        "litellm negative: skipped, output_cost_per_token=Decimal('-0.000001') is not a non-negative number",
    ]


def test_litellm_match_names(litellm: sources.ParsedSnapshot) -> None:
    catalog = Catalog([Layer("litellm", litellm.providers)])
    # the exact key wins: bare `gemini-2.5-pro` is LiteLLM's Vertex row, not gemini/gemini-2.5-pro
    assert catalog.resolve("vertex_ai", "gemini-2.5-pro").model_ref == "gemini-2.5-pro"
    assert catalog.resolve("gemini", "gemini/gemini-2.5-pro").model_ref == "gemini/gemini-2.5-pro"
    # a prefixed key also answers to its bare name when no other row owns it
    hit = catalog.resolve("vertex_ai", "claude-3-5-haiku@20241022")
    assert (hit.provider_id, hit.model_ref) == ("google", "vertex_ai/claude-3-5-haiku@20241022")
    assert catalog.resolve("xai", "grok-4.7").model_ref == "xai/grok-4.7"
    assert catalog.resolve("azure", "gpt-4o").model_ref == "azure/gpt-4o"
    assert catalog.resolve(None, "gpt-4o").provider_id == "openai"  # model_match borrowed from genai-prices


def test_litellm_snapshot_prices_through_the_engine(litellm: sources.ParsedSnapshot) -> None:
    from agentcost_cli.models import UsageEvent

    pricer = Pricer(Catalog([Layer("litellm", litellm.providers)]))
    ts = "2026-11-20T12:00:00.000000Z"
    gpt4o = UsageEvent(timestamp=ts, provider="openai", model="gpt-4o", input_tokens=6000, cache_read_tokens=4000,
                       output_tokens=500)
    # 6000 x 2.5 + 4000 x 1.25 + 500 x 10 = 25,000 per-MTok-tokens = $0.025
    assert pricer.quote(gpt4o).cost_nanos == 25_000_000
    batch = UsageEvent(timestamp=ts, provider="anthropic", model="claude-sonnet-4-5", input_tokens=1_000_000,
                       output_tokens=1_000_000, price_context={"processing": "batch"})
    # batch: $1.50 + $7.50
    assert pricer.quote(batch).cost_nanos == 9_000_000_000


def test_every_converted_litellm_model_is_valid_for_genai_prices(litellm: sources.ParsedSnapshot) -> None:
    from genai_prices import Usage

    usage = Usage(input_tokens=300_000, cache_read_tokens=1000, cache_write_tokens=3000, cache_write_1h_tokens=1000,
                  output_tokens=2000, output_reasoning_tokens=500)
    checked = 0
    for provider in litellm.providers:
        for model in provider.models:
            for context in (None, {"processing": "batch"}, {"service_tier": "flex"}, {"service_tier": "priority"}):
                model.calc_price(usage, provider, genai_request_timestamp=AT, price_context=context)
                checked += 1
    assert checked == 4 * 172


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared research fixtures not found at {SHARED}")
def test_parse_full_litellm_file() -> None:
    parsed = parse_snapshot((SHARED / "litellm_model_prices.json").read_bytes())
    assert (parsed.provider_count, parsed.model_count) == (99, 3882)
    assert sum("float artifact" in w for w in parsed.warnings) == 51
    by_id = {p.id: len(p.models) for p in parsed.providers}
    assert (by_id["openai"], by_id["anthropic"], by_id["google"], by_id["aws"], by_id["azure"]) == (
        157, 22, 271, 552, 384)
    validate_snapshot(parsed, bundled_layer().providers)  # 3,882 models covering every checked provider


# ---------------------------------------------------------------- validate


def test_validate_accepts_a_healthy_snapshot(genai: sources.ParsedSnapshot) -> None:
    validate_snapshot(genai, bundled_layer().providers)
    validate_snapshot(genai, genai.providers)
    validate_snapshot(genai, [])  # nothing to compare against


def test_validate_boundary_exactly_half_is_accepted() -> None:
    half = parse_snapshot(_dump(_shrink(_raw_genai(), 2330 // 2)))
    assert half.model_count == 1165
    validate_snapshot(half, bundled_layer().providers)


def test_validate_refuses_fewer_than_half() -> None:
    shrunk = parse_snapshot(_dump(_shrink(_raw_genai(), 1164)))
    with pytest.raises(PricingError, match=r"it has 1,164 models, fewer than half of the 2,330"):
        validate_snapshot(shrunk, bundled_layer().providers)


def test_validate_refuses_an_emptied_provider() -> None:
    parsed = parse_snapshot(_dump(_without_provider_models(_raw_genai(), "anthropic")))
    with pytest.raises(PricingError) as info:
        validate_snapshot(parsed, bundled_layer().providers)
    assert "no models for anthropic (27 models now)" in info.value.message
    assert info.value.hint == "the current prices stay in use"


def test_validate_refuses_a_dropped_provider() -> None:
    raw = [p for p in _raw_genai() if p["id"] != "x-ai"]
    with pytest.raises(PricingError, match=r"x-ai \(22 models now\)"):
        validate_snapshot(parse_snapshot(_dump(raw)), bundled_layer().providers)


def test_validate_litellm_compares_only_providers_it_maps_onto(litellm: sources.ParsedSnapshot) -> None:
    bundled = {p.id: p for p in bundled_layer().providers}
    # genai-prices-only providers are not LiteLLM's business
    validate_snapshot(litellm, [bundled["cursor"], bundled["huggingface_together"], bundled["avian"]])
    validate_snapshot(litellm, [bundled["anthropic"], bundled["google"]])
    assert "openrouter" not in LITELLM_CHECKED_PROVIDERS
    # Plain floats are safe here: the subset was written from them, so repr() gives back its exact text.
    raw = json.loads(LITELLM_BYTES)
    no_claude = {k: v for k, v in raw.items() if k == "sample_spec" or v.get("litellm_provider") != "anthropic"}
    smaller = parse_snapshot(json.dumps(no_claude).encode())
    assert smaller.model_count == 172 - 8
    with pytest.raises(PricingError, match=r"no models for anthropic \(27 models now\)"):
        validate_snapshot(smaller, [bundled["anthropic"], bundled["google"]])
    with pytest.raises(PricingError, match=r"no models for anthropic \(8 models now\)"):
        validate_snapshot(smaller, litellm.providers)  # previous LiteLLM snapshot: same id space


def test_validate_litellm_subset_against_the_full_catalog_is_refused(litellm: sources.ParsedSnapshot) -> None:
    with pytest.raises(PricingError, match=r"it has 172 models, fewer than half of the 2,330"):
        validate_snapshot(litellm, bundled_layer().providers)


def test_validate_genai_ignores_litellm_only_providers(genai: sources.ParsedSnapshot,
                                                       litellm: sources.ParsedSnapshot) -> None:
    validate_snapshot(genai, litellm.providers)  # deepinfra, opencode_go, ... are LiteLLM-only names
    no_claude = parse_snapshot(_dump(_without_provider_models(_raw_genai(), "anthropic")))
    with pytest.raises(PricingError, match=r"anthropic \(8 models now\)"):
        validate_snapshot(no_claude, litellm.providers)


# ---------------------------------------------------------------- diff


def _raw_model(raw: list[dict[str, Any]], provider_id: str, model_id: str) -> dict[str, Any]:
    provider = next(p for p in raw if p["id"] == provider_id)
    model: dict[str, Any] = next(m for m in provider["models"] if m["id"] == model_id)
    return model


def test_diff_identical_catalogs_is_empty(genai: sources.ParsedSnapshot) -> None:
    # The parsed snapshot rounded 28 float artifacts; at 12 significant digits that is no change.
    assert diff_catalogs(bundled_layer().providers, genai.providers, AT) == []


def test_diff_reports_changes_tiers_additions_and_removals(genai: sources.ParsedSnapshot) -> None:
    raw = _raw_genai()
    _raw_model(raw, "openai", "gpt-4o")["prices"]["input_mtok"] = "5"
    _raw_model(raw, "openai", "gpt-4o")["prices"]["cache_write_1h_mtok"] = "1"
    _raw_model(raw, "google", "gemini-2.5-pro")["prices"]["input_mtok"]["tiers"][0]["price"] = "3"
    _raw_model(raw, "google", "gemini-2.5-pro")["prices"]["output_mtok"] = 10  # the >200k tier is gone
    openai = next(p for p in raw if p["id"] == "openai")
    openai["models"] = [m for m in openai["models"] if m["id"] != "o3"]
    anthropic = next(p for p in raw if p["id"] == "anthropic")
    anthropic["models"].append({"id": "claude-test-1", "match": {"equals": "claude-test-1"},
                                "prices": {"input_mtok": 1, "output_mtok": 2}})
    changes = diff_catalogs(genai.providers, parse_snapshot(_dump(raw)).providers, AT)
    assert changes == [
        PriceChange("anthropic", "claude-test-1", "model", None, "claude-test-1", None),
        PriceChange("google", "gemini-2.5-pro", "input_mtok>200000", "2.5", "3", "20.00"),
        PriceChange("google", "gemini-2.5-pro", "output_mtok>200000", "15", None, None),
        PriceChange("openai", "gpt-4o", "input_mtok", "2.5", "5", "100.00"),
        PriceChange("openai", "gpt-4o", "cache_write_1h_mtok", None, "1", None),
        PriceChange("openai", "o3", "model", "o3", None, None),
    ]


def test_diff_uses_the_prices_in_force_at_the_given_moment(genai: sources.ParsedSnapshot) -> None:
    raw = _raw_genai()
    o3 = _raw_model(raw, "openai", "o3")
    assert o3["prices"][0]["prices"]["input_mtok"] == 10  # the price before 2025-06-10
    o3["prices"][0]["prices"]["input_mtok"] = 2
    new = parse_snapshot(_dump(raw)).providers
    before = diff_catalogs(genai.providers, new, datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    assert before == [PriceChange("openai", "o3", "input_mtok", "10", "2", "-80.00")]
    assert diff_catalogs(genai.providers, new, datetime(2025, 6, 10, tzinfo=UTC)) == []


def test_diff_price_from_zero_has_no_percentage(genai: sources.ParsedSnapshot) -> None:
    raw = _raw_genai()
    _raw_model(raw, "openai", "gpt-4o")["prices"]["output_mtok"] = "0"
    zero = parse_snapshot(_dump(raw)).providers
    assert diff_catalogs(genai.providers, zero, AT) == [PriceChange("openai", "gpt-4o", "output_mtok", "10", "0",
                                                                    "-100.00")]
    assert diff_catalogs(zero, genai.providers, AT) == [PriceChange("openai", "gpt-4o", "output_mtok", "0", "10",
                                                                    None)]


def test_diff_between_genai_and_litellm(genai: sources.ParsedSnapshot, litellm: sources.ParsedSnapshot) -> None:
    changes = diff_catalogs(genai.providers, litellm.providers, AT)
    gpt4o = [c for c in changes if (c.provider, c.model) == ("openai", "gpt-4o")]
    assert gpt4o == []  # same prices in both sources
    assert PriceChange("anthropic", "claude-2", "model", "claude-2", None, None) in changes
