"""Request and response models of the alerting API (`server/routes/alerting.py` and
`routes/channels.py`): channels, budgets, rules, alerts and mutes, deliveries, jobs.

Answers carry exactly what the services return (the CLI renders them as it renders local
answers), so response models declare no defaults and convert nothing: money is decimal text,
times are RFC 3339 UTC text. `extra="allow"`: a field a service adds passes through.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .schemas import DeliveryAttempt, OutboxMessage

_OUT = ConfigDict(extra="allow")
_IN = ConfigDict(extra="forbid")
# an outbox id as the store can hold it: a wrong one is "no such message", never an overflow
OutboxId = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


# -- channels ----------------------------------------------------------------------------------
CHANNEL_EXAMPLE: dict[str, Any] = {
    "name": "ops-hook", "kind": "webhook", "target": "https://hooks.example.com/…ab12", "project": "web",
    "status": "active", "disabled_reason": None, "created_utc": "2026-11-20T10:15:30.123456Z",
    "last_success_utc": None, "failing_since_utc": None}


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "ops-hook", "kind": "webhook", "target": "https://hooks.example.com/agentcost", "project": "web"}]})

    name: str = Field(max_length=200)
    kind: str = Field(max_length=32, description="email, webhook, slack, discord, ntfy or twilio.")
    target: str = Field(max_length=400_000, description="Addresses (comma-separated), a URL, or an E.164 number.")
    project: str | None = Field(None, max_length=200, description="Omitted: a store-wide channel (operators).")
    token: str | None = Field(None, max_length=4096, description="An ntfy access token.")


class Channel(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [CHANNEL_EXAMPLE]})

    name: str
    kind: str
    target: str = Field(description="Redacted: enough to tell two apart, not to use one.")
    project: str | None
    status: str = Field(description="active or disabled")
    disabled_reason: str | None
    created_utc: str
    last_success_utc: str | None
    failing_since_utc: str | None


class ChannelCreated(Channel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {**CHANNEL_EXAMPLE, "secret": "whsec_…"}]})

    secret: str | None = Field(None, description="A webhook channel's signing secret: shown this once. Absent for "
                                                 "other kinds.")


class ChannelPage(BaseModel):
    items: list[Channel]
    next_cursor: str | None


class SecretRotate(BaseModel):
    model_config = _IN

    overlap_hours: float | None = Field(None, allow_inf_nan=False, description="How long the previous secret "
                                        "still signs deliveries (0 to 168; default: notify.secret_overlap).")


class ChannelSecret(BaseModel):
    model_config = _OUT

    name: str
    secret: str = Field(description="The new signing secret: shown this once.")
    previous_valid_until_utc: str | None


class ChannelTest(BaseModel):
    model_config = _IN

    names: list[str] = Field(default_factory=list, max_length=1000,
                             description="Channels to test; empty: every active channel you manage.")


class ChannelTestResult(BaseModel):
    model_config = _OUT

    channel: str
    kind: str
    message_id: int
    status: str
    outcome: str | None
    status_code: int | None
    latency_ms: int | float | None
    error: str | None


class ChannelTestAnswer(BaseModel):
    results: list[ChannelTestResult]


# -- budgets -----------------------------------------------------------------------------------
BUDGET_EXAMPLE: dict[str, Any] = {
    "name": "web-monthly", "scope": "project", "value": "web", "project": "web", "period": "month", "zone": "UTC",
    "period_key": "2026-11", "period_start_utc": "2026-11-01T00:00:00.000000Z",
    "period_end_utc": "2026-12-01T00:00:00.000000Z", "amount_usd": "500.000000000", "spent_usd": "212.500000000",
    "percent": "42.5", "resets": "resets in 3d 4h", "forecast_usd": "318.750000000", "forecast": True,
    "thresholds": [50, 80, 100], "crossed": [], "state": "ok", "channels": ["ops-hook"]}


class BudgetCreate(BaseModel):
    """Fields left out take the defaults of `agentcost budgets create`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "web-monthly", "amount": "500", "scope": "project", "project": "web", "period": "month",
         "zone": "Europe/Paris", "thresholds": "50,80,100", "channels": ["ops-hook"], "forecast": True}]})

    name: str = Field(max_length=200)
    amount: str = Field(max_length=64, description="USD per period, as decimal text (e.g. \"500\" or \"12.50\").")
    scope: str = Field("project", max_length=32, description="project, key, user, tag or global.")
    value: str | None = Field(None, max_length=1000, description="The key id, user, or tag as NAME=VALUE.")
    project: str | None = Field(None, max_length=200)
    period: str = Field("month", max_length=64, description="day, week, month, or rolling:N (N days).")
    zone: str = Field("UTC", max_length=128, description="IANA time zone the period is counted in.")
    thresholds: str = Field("50,80,100", max_length=1000, description="Percentages that alert, comma-separated.")
    channels: list[str] | None = Field(None, max_length=1000)
    forecast: bool = True


class BudgetUpdate(BaseModel):
    """Only the fields given change; `channels: []` removes every channel."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": "750"}]})

    amount: str | None = Field(None, max_length=64)
    period: str | None = Field(None, max_length=64)
    zone: str | None = Field(None, max_length=128)
    thresholds: str | None = Field(None, max_length=1000)
    channels: list[str] | None = Field(None, max_length=1000)
    forecast: bool | None = None


class Budget(BaseModel):
    """A budget with its spend now (`agentcost budgets status --json`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [BUDGET_EXAMPLE]})

    name: str
    scope: str
    value: str | None
    project: str | None
    period: str
    zone: str
    period_key: str
    period_start_utc: str
    period_end_utc: str
    amount_usd: str = Field(description="Decimal text, USD.")
    spent_usd: str = Field(description="Decimal text, USD.")
    percent: str = Field(description="Decimal text.")
    resets: str
    forecast_usd: str | None = Field(description="Decimal text, USD; null without a forecast.")
    forecast: bool = Field(description="Forecast alerts are on (forecast_usd is still null early in a period).")
    thresholds: list[int]
    crossed: list[int]
    state: str = Field(description="ok, warning, exceeded or forecast_over")
    channels: list[str]


class BudgetPage(BaseModel):
    items: list[Budget]
    next_cursor: str | None


# -- rules -------------------------------------------------------------------------------------
class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "openai-daily", "expression": 'cost > 50 and provider == "openai" per day', "project": "web",
         "channels": ["ops-hook"]}]})

    name: str = Field(max_length=200)
    expression: str = Field(max_length=10_000)
    project: str | None = Field(None, max_length=200)
    channels: list[str] | None = Field(None, max_length=1000)


class RuleUpdate(BaseModel):
    model_config = _IN

    expression: str | None = Field(None, max_length=10_000)
    channels: list[str] | None = Field(None, max_length=1000)
    enabled: bool | None = None


class Rule(BaseModel):
    model_config = _OUT

    name: str
    expression: str = Field(description="The canonical text of the rule.")
    project: str | None
    channels: list[str]
    enabled: bool
    created_utc: str
    updated_utc: str


class RulePage(BaseModel):
    items: list[Rule]
    next_cursor: str | None


# -- alerts and mutes --------------------------------------------------------------------------
class Alert(BaseModel):
    model_config = _OUT

    id: int
    created_utc: str
    kind: str = Field(description="e.g. budget.threshold, budget.forecast, rule.triggered, anomaly.detected")
    severity: str
    source: str | None
    project: str | None
    summary: str
    muted: bool
    data: dict[str, Any]


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="The id of the last alert of this page; null on the last page.")


class MuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"seconds": 3600,
                                                                               "reason": "maintenance"}]})

    seconds: float = Field(allow_inf_nan=False, description="How long (at most a year).")
    reason: str | None = Field(None, max_length=1000)


class Mute(BaseModel):
    model_config = _OUT

    target: str
    until_utc: str
    reason: str | None


class MutePage(BaseModel):
    items: list[Mute]
    next_cursor: str | None


class Unmuted(BaseModel):
    target: str
    removed: bool = Field(description="Whether there was a mute to end.")


class AlertRun(BaseModel):
    """One evaluation of budgets, rules and anomalies (`agentcost alerts run --json`)."""

    model_config = _OUT

    budgets: int
    rules: int
    fired: list[dict[str, Any]]
    errors: list[str]
    anomalies: dict[str, Any]


# -- deliveries --------------------------------------------------------------------------------
class DispatchRequest(BaseModel):
    model_config = _IN

    limit: int = Field(50, ge=1, le=10_000, description="At most this many messages.")


class DispatchReport(BaseModel):
    model_config = _OUT

    claimed: int
    sent: int
    retrying: int
    dead: int
    unknown: int
    lost_leases: int
    disabled_channels: list[str]


class Delivery(OutboxMessage):
    attempt_log: list[DeliveryAttempt]


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None = Field(description="The id of the last delivery of this page; null on the last page.")


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"all_failed": True, "since": "2026-11-26T00:00:00Z", "channel": "ops-hook"}, {"ids": [41, 42]}]})

    ids: list[OutboxId] | None = Field(None, max_length=10_000)
    all_failed: bool = False
    since: str | None = Field(None, max_length=64)
    channel: str | None = Field(None, max_length=200)


class RetryAnswer(BaseModel):
    model_config = _OUT

    requeued: int
    ids: list[int]
    at_utc: str


# -- jobs --------------------------------------------------------------------------------------
class Job(BaseModel):
    model_config = _OUT

    job: str
    description: str
    schedule: str
    last_start_utc: str | None
    last_end_utc: str | None
    last_status: str | None
    last_error: str | None
    last_owner: str | None
    runs: int
    next_run_utc: str | None = Field(description="This daemon's timer when it runs the scheduler.")


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None
