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


class ResetRequest(BaseModel):
    token: str = Field(max_length=256)
    password: str = Field(min_length=8, max_length=256)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=256)


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
