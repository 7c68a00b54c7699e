"""The OpenAPI document as the API really answers: every 4xx/5xx as a problem document,
the native event schema, the two ways to authenticate, and the rate-limit headers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .problems import MEDIA_TYPE, PROBLEM_TYPES

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RATE_HEADERS = {
    "RateLimit-Policy": {"description": 'The limits that apply, e.g. `"key_requests";q=1200;w=60`.',
                         "schema": {"type": "string"}},
    "RateLimit": {"description": 'The tightest limit now, e.g. `"key_requests";r=1187;t=42`.',
                  "schema": {"type": "string"}},
}


def install(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from .schemas import NativeEvent

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["NativeEvent"] = NativeEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "A project API key (`ac_live_...`) or a user access token."},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _fix_operation(path, method, operation)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


def _fix_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    public = path.startswith(("/healthz", "/readyz", "/problems", "/v1/auth/"))
    if not public:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
    codes = {"400": "malformed-json", "404": "not-found", "422": "validation-error", "429": "rate-limited",
             "500": "internal-error", "503": "unavailable"}
    if not public or path.startswith("/v1/auth/"):
        codes |= {"401": "unauthenticated", "403": "forbidden"}
    if method in ("post", "put", "patch", "delete"):
        codes["409"] = "conflict"
    if path.startswith("/v1/events"):
        codes |= {"413": "payload-too-large", "415": "unsupported-media-type"}
    for code, slug in codes.items():
        responses.setdefault(code, {"description": PROBLEM_TYPES[slug][1]})
    for code, entry in responses.items():
        if code.startswith(("4", "5")):
            entry["content"] = {MEDIA_TYPE: {"schema": _PROBLEM_REF}}
        if code.startswith("2") or code == "429":
            entry.setdefault("headers", {}).update(_RATE_HEADERS)
    responses["429"].setdefault("headers", {})["Retry-After"] = {
        "description": "Seconds to wait.", "schema": {"type": "integer"}}
