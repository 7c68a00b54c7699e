"""Request and response models: they validate input and document the API (OpenAPI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EVENT_EXAMPLE: dict[str, Any] = {
    "id": "req_01J9Z6", "timestamp": "2026-11-20T10:15:30.123Z", "provider": "anthropic",
    "model": "claude-sonnet-4-5-20250929", "project": "web", "input_tokens": 1200, "cache_read_tokens": 48000,
    "output_tokens": 850, "user": "alice", "agent": "my-app", "tags": {"env": "prod"},
}


class NativeEvent(BaseModel):
    """One usage event (docs/events.md). Only the documented fields are allowed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: str = Field(max_length=128, description="Client-chosen id; the same id in a project is stored once.")
    timestamp: str | float = Field(description="RFC 3339 with an offset, or epoch seconds/milliseconds.")
    model: str
    provider: str | None = None
    project: str | None = None
    input_tokens: int = Field(0, ge=0)
    cache_read_tokens: int = Field(0, ge=0)
    cache_write_tokens: int = Field(0, ge=0)
    cache_write_1h_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    reasoning_tokens: int = Field(0, ge=0)
    requests: int = Field(1, ge=0)
    latency_ms: float | None = Field(None, ge=0)
    user: str | None = None
    session: str | None = None
    agent: str | None = None
    key_id: str | None = None
    tags: dict[str, str] | list[str] | None = None
    price_context: dict[str, str] | None = None
    reported_cost_usd: str | float | None = None
    metadata: dict[str, Any] | None = None


class ItemSuccess(BaseModel):
    id: str
    status: str = Field(description="`created`, or `duplicate` for an id already stored.")


class ItemError(BaseModel):
    id: str | None
    index: int
    status: int = 422
    detail: str
    pointer: str = Field(description="JSON pointer to the offending value, e.g. /events/3/model.")


class BatchAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"successes": [{"id": "req_01J9Z6", "status": "created"}], "errors": []}]})

    successes: list[ItemSuccess]
    errors: list[ItemError]


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str = Field(examples=["/problems/forbidden"])
    title: str
    status: int
    detail: str
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None


class LoginRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"email": "ada@example.com", "password": "correct horse battery staple", "code": "123456"}]})

    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    code: str | None = Field(None, max_length=64, description="TOTP or recovery code, when the account has MFA.")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    session_id: int
    refresh_expires_at: str


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=256)


class RegisterRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(min_length=8, max_length=256)
    name: str | None = Field(None, max_length=200)


class EmailRequest(BaseModel):
    email: str = Field(max_length=254)


class TokenRequest(BaseModel):
    token: str = Field(max_length=256)


# New passwords: the length and the rest of the password policy are checked by the service, so an
# API client gets the same words as the CLI ("password must be at least 8 characters").
def _new_password() -> Any:
    return Field(max_length=256, description="At least 8 characters; the server's password policy applies.")


class ResetRequest(BaseModel):
    token: str = Field(max_length=256)
    password: str = _new_password()


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = _new_password()


class CodeRequest(BaseModel):
    code: str = Field(max_length=64)


class Message(BaseModel):
    message: str


class ProjectCreate(BaseModel):
    slug: str = Field(max_length=63, examples=["web-app"])
    name: str | None = Field(None, max_length=200)


class ProjectUpdate(BaseModel):
    slug: str | None = Field(None, max_length=63)
    name: str | None = Field(None, max_length=200)
    allowed_networks: list[str] | None = Field(
        None, max_length=100, description="Where the project's API keys may be used from (CIDR); [] allows anywhere.")


class MemberRole(BaseModel):
    role: str = Field(examples=["member"], description="owner, admin, member or viewer")


class Transfer(BaseModel):
    email: str = Field(max_length=254)


class KeyCreate(BaseModel):
    name: str = Field(max_length=200, examples=["ci"])
    scopes: list[str] = Field(examples=[["ingest"]], description="ingest, read, admin")
    expires_at: str | None = Field(None, description="RFC 3339; omitted: no expiry.")
    env: str = Field("live", description="live or test")


class KeyRotate(BaseModel):
    overlap_seconds: int = Field(86400, ge=0, le=30 * 86400)


class SsoDevice(BaseModel):
    """A single sign-on started at the identity provider (RFC 8628 3.2): show `verification_uri`
    and `user_code` to the user, then poll `POST /v1/auth/sso/token` every `interval` seconds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS", "user_code": "WDJB-MJHT",
        "verification_uri": "https://idp.example.com/device",
        "verification_uri_complete": "https://idp.example.com/device?user_code=WDJB-MJHT",
        "interval": 5, "expires_in": 600}]})

    device_code: str = Field(description="Send it back to `POST /v1/auth/sso/token`; never show it.")
    user_code: str = Field(description="What the user types at `verification_uri`.")
    verification_uri: str
    verification_uri_complete: str | None = Field(None, description="The same page with the code filled in.")
    interval: int = Field(description="Seconds between polls; add 5 after each `/problems/slow-down`.")
    expires_in: int = Field(description="Seconds until the device code expires.")


class SsoTokenRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"},
        {"device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS", "code": "123456", "mfa_ticket": "eyJhbGciOi..."},
    ]})

    device_code: str = Field(min_length=1, max_length=4096)
    code: str | None = Field(None, max_length=64, description="TOTP or recovery code, when the account has MFA.")
    mfa_ticket: str | None = Field(None, max_length=4096, description="From the `/problems/mfa-required` answer "
                                   "to the previous poll: send it with `code`.")


# -- prices ----------------------------------------------------------------------------------------
# Money and rates are decimal strings (exact); rates are USD per million tokens.
_OUT = ConfigDict(extra="allow")  # answers carry what the service returns; documented fields first

MODEL_PRICES_EXAMPLE: dict[str, Any] = {
    "provider": "openai", "model": "gpt-4o", "name": "gpt 4o", "layer": "bundled:genai-prices-0.2.3",
    "rates": {"input": "2.5", "cache_read": "1.25", "output": "10"}, "context_window": 128000,
    "deprecated": False, "overridden": False,
    "price_periods": [{"from": None, "prices": "$2.5/input MTok, $10/output MTok, $1.25/input cache read MTok"}],
}


class ModelPrices(BaseModel):
    """How a model id resolves and the rates in force (the document of `agentcost pricing show --json`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [MODEL_PRICES_EXAMPLE]})

    provider: str
    model: str
    name: str | None = None
    layer: str = Field(description="Where the price comes from: `bundled:...` (shipped with agentcost), "
                       "`snapshot:<sha256 prefix>` (a price update) or `override`.")
    rates: dict[str, Any] = Field(description="USD per million tokens, as decimal strings (`requests_kcount`: per "
                                  "1000 requests); `<rate>_tiers` lists the long-context tiers of a rate.")
    context_window: int | None = None
    deprecated: bool = False
    overridden: bool = Field(False, description="A manual override is in force.")
    price_periods: list[dict[str, Any]] = Field(default_factory=list, description="Dated prices, oldest first.")


class ModelPricesPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [MODEL_PRICES_EXAMPLE],
                                                               "next_cursor": "bzoxMDA"}]})

    items: list[ModelPrices]
    next_cursor: str | None


def _rate(what: str = "") -> Any:
    return Field(None, max_length=40, description=f"{what}USD per million tokens, a decimal string.", examples=["2.5"])


class OverrideRates(BaseModel):
    """Rates to override; those left out keep the catalog's."""

    model_config = ConfigDict(extra="forbid")

    input: str | None = _rate("Uncached input: ")
    output: str | None = _rate("Output: ")
    cache_read: str | None = _rate("Cache reads: ")
    cache_write: str | None = _rate("5-minute cache writes: ")
    cache_write_1h: str | None = _rate("1-hour cache writes: ")


class PriceOverrideRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"provider": "openai", "model": "gpt-4o", "rates": {"input": "2", "output": "8"},
         "reason": "enterprise agreement", "effective_from": "2026-11-01T00:00:00Z"}]})

    provider: str = Field(max_length=100, description="Provider id: openai, anthropic, google, aws, azure, ...")
    model: str = Field(max_length=300, description="Catalog id, or the id as the logs write it.")
    rates: OverrideRates
    reason: str = Field(max_length=500, description="Why this price differs (kept in the history); required.")
    effective_from: str | None = Field(None, max_length=64, description="RFC 3339 or a date (UTC); omitted: for "
                                       "all time.")


class PriceOverride(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"id": 3, "provider": "openai", "model": "gpt-4o", "rates": {"input": "2", "output": "8"},
         "effective_from_utc": "2026-11-01T00:00:00.000000Z", "reason": "enterprise agreement",
         "created_utc": "2026-11-20T10:15:30.123456Z", "revision": 7}]})

    id: int
    provider: str
    model: str
    rates: dict[str, str]
    effective_from_utc: str
    reason: str
    created_utc: str
    revision: int = Field(description="The pricing revision this override opened.")


class OverrideRemoved(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"provider": "openai", "model": "gpt-4o",
                                                               "removed": 1}]})

    provider: str
    model: str
    removed: int = Field(description="How many active overrides ended (they stay in the history).")


PRICE_CHANGE_EXAMPLE: dict[str, Any] = {
    "id": 12, "recorded_utc": "2026-11-20T10:15:30.123456Z", "revision_id": 7, "provider": "openai",
    "model": "gpt-4o", "field": "output", "old_value": "15", "new_value": "10", "pct_change": "-33.33",
    "source": "genai-prices"}


class PriceChange(BaseModel):
    model_config = _OUT

    id: int
    recorded_utc: str
    revision_id: int | None
    provider: str
    model: str
    field: str
    old_value: str | None
    new_value: str | None
    pct_change: str | None = Field(description="Decimal text; null when a price was added, removed or was zero.")
    source: str = Field(description="`override`, or the snapshot format of an update.")


class PriceChangePage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [PRICE_CHANGE_EXAMPLE],
                                                               "next_cursor": None}]})

    items: list[PriceChange]
    next_cursor: str | None


class UnpricedModel(BaseModel):
    model_config = _OUT

    provider: str
    model: str
    events: int
    first_seen: str
    last_seen: str


class UnpricedPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"provider": "acme", "model": "acme-internal-llm", "events": 42, "first_seen": "2026-11-01T09:00:00.000000Z",
         "last_seen": "2026-11-20T17:30:00.000000Z"}], "next_cursor": None}]})

    items: list[UnpricedModel]
    next_cursor: str | None


class PriceUpdate(BaseModel):
    """What a price update did (the document of `agentcost pricing update --json`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"status": "updated", "source": "https://example.com/prices.json", "format": "genai-prices",
         "sha256": "a616d829...", "model_count": 2330, "provider_count": 47,
         "changes": [{"provider": "openai", "model": "gpt-4o", "field": "output", "old": "15", "new": "10",
                      "pct_change": "-33.33"}], "warnings": [], "revision": 8},
        {"status": "not-modified", "source": "https://example.com/prices.json", "format": None, "sha256": None,
         "model_count": None, "provider_count": None, "changes": [], "warnings": [], "revision": None}]})

    status: str = Field(description="`updated`, `not-modified` (the source said so) or `unchanged` (same content).")
    source: str
    format: str | None = None
    sha256: str | None = None
    model_count: int | None = None
    provider_count: int | None = None
    changes: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    revision: int | None = None


class RepriceRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"since": "2026-11-01", "dry_run": True}]})

    since: str | None = Field(None, max_length=64, description="Only events from this time (RFC 3339 or a date, "
                              "UTC); omitted: every event.")
    dry_run: bool = Field(False, description="Say what would change; write nothing.")


class RepriceModel(BaseModel):
    model_config = _OUT

    provider: str
    model: str
    events: int = Field(description="Events of this model whose cost changes.")
    before_usd: str | None = Field(description="Their cost before; null when none of them had one.")
    after_usd: str | None
    unpriced_before: int
    unpriced_after: int


class RepriceAnswer(BaseModel):
    """The document of `agentcost pricing reprice --json`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"dry_run": True, "examined": 1200, "changed": 40, "newly_priced": 40, "newly_unpriced": 0,
         "cost_before_usd": "12.500000000", "cost_after_usd": "13.100000000", "difference_usd": "0.600000000",
         "pricing_revision": 8, "models": [
             {"provider": "acme", "model": "acme-internal-llm", "events": 40, "before_usd": None,
              "after_usd": "0.600000000", "unpriced_before": 40, "unpriced_after": 0}]}]})

    dry_run: bool
    examined: int
    changed: int
    newly_priced: int
    newly_unpriced: int
    cost_before_usd: str
    cost_after_usd: str
    difference_usd: str
    pricing_revision: int | None
    models: list[RepriceModel]


# -- the outbox --------------------------------------------------------------------------------------
OUTBOX_EXAMPLE: dict[str, Any] = {
    "id": 3, "created_utc": "2026-11-20T10:15:30.123456Z", "channel": "email", "recipient": "ana@example.com",
    "template": "password_reset", "subject": "Reset your agentcost password", "status": "pending", "attempts": 0,
    "next_attempt_utc": "2026-11-20T10:15:30.123456Z", "sent_utc": None, "last_error": None, "provider": None,
    "provider_message_id": None, "message_uid": "msg_2kTq8vHc1sPzXy", "alert_id": None, "channel_name": None}


class DeliveryAttempt(BaseModel):
    model_config = _OUT

    attempt_no: int
    started_utc: str
    provider: str | None
    outcome: str | None = Field(description="delivered, accepted, retry, refused, failed, unknown, disabled or "
                                            "blocked")
    status_code: int | None
    latency_ms: int | float | None
    response_excerpt: str | None = Field(description="The start of the receiver's answer (at most 500 characters).")
    error: str | None


class OutboxMessage(BaseModel):
    model_config = _OUT

    id: int
    created_utc: str
    channel: str = Field(description="email, webhook, slack, discord, ntfy or twilio")
    recipient: str
    template: str
    subject: str
    status: str = Field(description="pending, sent, dead (retries used up or refused for good) or unknown (an "
                                    "email whose outcome cannot be known; never re-sent blindly)")
    attempts: int
    next_attempt_utc: str | None
    sent_utc: str | None
    last_error: str | None
    provider: str | None
    provider_message_id: str | None
    message_uid: str | None = Field(description="The webhook-id: the same on every attempt and manual retry.")
    alert_id: int | None
    channel_name: str | None


class OutboxPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [OUTBOX_EXAMPLE], "next_cursor": None}]})

    items: list[OutboxMessage]
    next_cursor: str | None


class OutboxMessageBody(OutboxMessage):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {**OUTBOX_EXAMPLE, "body": "Hello Ana,\n\nReset your password: https://costs.example.org/reset-password?...",
         "attempt_log": []}]})

    body: str = Field(description="The rendered message: it may hold a live sign-in or reset link.")
    attempt_log: list[DeliveryAttempt]


class VerifiedEmail(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "ana@example.com is verified",
                                                               "email": "ana@example.com"}]})

    message: str
    email: str
