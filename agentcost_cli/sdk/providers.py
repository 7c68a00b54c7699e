"""Native events from provider response objects, through agentcost's own parsers.

The token mapping (what includes what, cache buckets, reasoning) lives in
`agentcost_cli.ingest.{openai,anthropic,gemini}`; this module only turns the
client library's response object into the JSON dict those parsers read, runs
the parser and applies the caller's labels. The parsers are imported on first
use, so `import agentcost_cli.sdk` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import InvalidEventError

if TYPE_CHECKING:
    from ..ingest.base import Parser

FORMATS = ("openai", "anthropic", "gemini")
# What `record_<format>(response, **extra)` may set on the events.
EXTRA_FIELDS = frozenset({
    "id", "project", "user", "session", "agent", "key_id", "tags", "price_context", "latency_ms",
    "timestamp", "metadata",
})


def response_dict(response: Any) -> Mapping[str, Any]:
    """The response's JSON as a dict: a dict as is, a pydantic model (`model_dump`), an object
    with `to_dict()`/`to_json_dict()`, or JSON text."""
    if isinstance(response, Mapping):
        return response
    if isinstance(response, str | bytes | bytearray):
        try:
            data = json.loads(response)
        except ValueError as exc:
            raise InvalidEventError(f"the response text is not JSON: {exc}") from None
    elif callable(getattr(response, "model_dump", None)):
        try:
            data = response.model_dump(mode="json")  # pydantic v2: datetimes and enums as JSON values
        except TypeError:
            data = response.model_dump()
    elif callable(getattr(response, "to_dict", None)):
        data = response.to_dict()
    elif callable(getattr(response, "to_json_dict", None)):
        data = response.to_json_dict()
    else:
        raise InvalidEventError(
            f"cannot read a {type(response).__name__}: pass the response object, its dict or its JSON text")
    if not isinstance(data, Mapping):
        raise InvalidEventError(f"the response is a {type(data).__name__}, not a JSON object")
    return data


def _parser(fmt: str) -> Parser:
    if fmt == "openai":
        from ..ingest.openai import OpenAIParser

        return OpenAIParser()
    if fmt == "anthropic":
        from ..ingest.anthropic import AnthropicParser

        return AnthropicParser()
    if fmt == "gemini":
        from ..ingest.gemini import GeminiParser

        return GeminiParser()
    raise ValueError(f"unknown response format {fmt!r}; expected one of {', '.join(FORMATS)}")


def provider_events(fmt: str, response: Any, **extra: Any) -> list[dict[str, Any]]:
    """Native events (not yet validated by `record`) for one provider response; [] when it carries
    no usage (a streaming chunk before the last). Raises InvalidEventError."""
    unknown = sorted(set(extra) - EXTRA_FIELDS)
    if unknown:
        raise TypeError(f"unexpected keyword {unknown[0]!r}; allowed: {', '.join(sorted(EXTRA_FIELDS))}")
    from ..ingest.base import RecordError, SourceContext
    from ..timeutil import now_utc

    data = response_dict(response)
    ctx = SourceContext(path=f"<sdk {fmt} response>", fallback_timestamp=now_utc())
    try:
        parsed = _parser(fmt).parse_record(data, ctx)
    except RecordError as exc:
        raise InvalidEventError(f"cannot read the {fmt} response's usage: {exc}") from None
    events = []
    for index, usage_event in enumerate(parsed):
        event = {k: v for k, v in usage_event.to_native().items() if v is not None}
        for key, value in extra.items():
            if value is None:
                continue
            if key in ("price_context", "metadata") and isinstance(value, Mapping):
                value = {**event.get(key, {}), **value}  # the parser's (batch, service tier) plus the caller's
            elif key == "id" and len(parsed) > 1:
                value = f"{value}:{index}"
            event[key] = value
        events.append(event)
    return events
