"""Request dependencies: the store for this thread, and the Actor behind the credentials.

Credentials: an API key (`Authorization: Bearer ac_live_...` or `X-API-Key`) or a user's
access token (`Authorization: Bearer <JWT>`). Which routes accept which is declared by
the dependency they use; the permission itself is decided in services/.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request

from ..errors import AuthError
from ..services.actor import Actor
from ..store.base import Store

API_KEY_PREFIX = "ac_"


class _ThreadStore:
    """The store, as seen from whichever thread uses it. FastAPI runs each synchronous dependency
    and the route in separate thread-pool calls, so a connection fetched in one would be used from
    another; this stand-in looks up the calling thread's own connection on every use."""

    __slots__ = ("_provider",)

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider.get(), name)


async def get_store(request: Request) -> Store:  # no I/O: no thread-pool hop
    return cast(Store, _ThreadStore(request.app.state.stores))


StoreDep = Annotated[Store, Depends(get_store)]


def source_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _credentials(request: Request) -> tuple[str, str] | None:
    """("key" | "token", secret) from the request headers."""
    key = request.headers.get("x-api-key")
    if key:
        return "key", key.strip()
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    value = value.strip()
    return ("key", value) if value.startswith(API_KEY_PREFIX) else ("token", value)


def _remember(request: Request, actor: Actor) -> Actor:
    request.state.actor = actor
    request.state.actor_label = actor.label  # for the access log: never a secret
    limiter = request.app.state.limiter
    if limiter is not None:
        limiter.charge_request(request, actor)
    return actor


def _charge_address(request: Request) -> None:
    """Every authenticated route counts against its source address first, so even a 401
    carries the rate-limit headers and guessing keys is throttled too."""
    limiter = request.app.state.limiter
    if limiter is not None:
        limiter.charge_address(request)


def any_actor(request: Request, store: StoreDep) -> Actor:
    """A user (access token) or an API key."""
    from ..services.sessions import actor_from_access_token, actor_from_api_key

    _charge_address(request)
    found = _credentials(request)
    if found is None:
        raise AuthError("credentials required", hint="send Authorization: Bearer <API key or access token>")
    kind, secret = found
    source = source_address(request)
    if kind == "key":
        actor = actor_from_api_key(store, secret, source=source)
    else:
        actor = actor_from_access_token(store, secret, source=source)
    return _remember(request, actor)


def user_actor(request: Request, store: StoreDep) -> Actor:
    """A signed-in user: account routes take no API keys."""
    from ..services.sessions import actor_from_access_token

    _charge_address(request)
    found = _credentials(request)
    if found is None or found[0] != "token":
        raise AuthError("a user access token is required", hint="sign in: POST /v1/auth/login")
    return _remember(request, actor_from_access_token(store, found[1], source=source_address(request)))


ActorDep = Annotated[Actor, Depends(any_actor)]
UserDep = Annotated[Actor, Depends(user_actor)]
