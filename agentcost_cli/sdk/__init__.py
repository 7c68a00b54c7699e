"""The agentcost Python SDK: send LLM usage events to an agentcost daemon.

    from agentcost_cli.sdk import AgentCost

    ac = AgentCost()  # AGENTCOST_API_KEY and AGENTCOST_URL from the environment
    ac.record({"model": "gpt-4o-2024-08-06", "input_tokens": 1200, "output_tokens": 85, "user": "alice"})
    ac.record_openai(openai_client.chat.completions.create(...), session="s-42")
    ac.record_anthropic(anthropic_client.messages.create(...), agent="triage-bot")
    ac.record_gemini(genai_client.models.generate_content(...), tags={"env": "prod"})
    result = ac.flush()  # or ac.close(); pending events are also flushed at interpreter exit

Imports httpx and the standard library only; the provider helpers load agentcost's
own response parsers on first use.
"""

from . import _light  # noqa: F401  # first: loads httpx without its CLI (rich, click)
from .client import AgentCost
from .errors import (
    AgentCostError,
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    EventError,
    EventsRejectedError,
    FlushResult,
    InvalidEventError,
    QueueFullError,
)
from .providers import provider_events

__all__ = [
    "APIError",
    "AgentCost",
    "AgentCostError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "DeliveryError",
    "EventError",
    "EventsRejectedError",
    "FlushResult",
    "InvalidEventError",
    "QueueFullError",
    "provider_events",
]
