"""Request dependencies: the store for this thread, and the Actor behind the credentials.

Credentials: an API key (`Authorization: Bearer ac_live_...` or `X-API-Key`) or a user's
access token (`Authorization: Bearer <JWT>`). Which routes accept which is declared by
the dependency they use; the permission itself is decided in services/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..errors import AuthError, InvalidToken
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


def _key_actor(request: Request, store: Store) -> Actor:
    from ..services.sessions import actor_from_access_token, actor_from_api_key

    _charge_address(request)
    found = _credentials(request)
    if found is None:
        raise AuthError("credentials required", hint="send Authorization: Bearer <API key or access token>")
    kind, secret = found
    source = source_address(request)
    with _bearer_refused():
        if kind == "key":
            actor = actor_from_api_key(store, secret, source=source)
        else:
            actor = actor_from_access_token(store, secret, source=source)
    return _remember(request, actor)


@contextmanager
def _bearer_refused() -> Iterator[None]:
    """A credential that does not resolve is the token's fault (InvalidToken: RFC 6750's
    `invalid_token`); clients refresh and retry only then, never after a wrong password."""
    try:
        yield
    except InvalidToken:
        raise
    except AuthError as exc:
        raise InvalidToken(exc.message, hint=exc.hint) from None


def runs_inline(request: Request) -> bool:
    """Whether a request's store reads and rate-limit charges may run on the event loop: they
    may when both are local (an embedded SQLite file, in-process counters), where a lookup
    costs less than the hand-off to a pool thread. A network store or Redis goes to the pool."""
    limiter = request.app.state.limiter
    return request.app.state.config.local_store and (limiter is None or limiter.in_process)


async def any_actor(request: Request, store: StoreDep) -> Actor:
    """A user (access token) or an API key. A key seen in the last second (services/authcache)
    is checked right here; anything that needs the store goes to the thread pool."""
    found = _credentials(request)
    if found is not None and found[0] == "key" and runs_inline(request):
        from ..auth.apikeys import hash_key, looks_valid
        from ..services import authcache

        secret = found[1]
        if looks_valid(secret) and authcache.cached(("api-key", store.location, hash_key(secret))) is not None:
            return _key_actor(request, store)
    return await run_in_threadpool(_key_actor, request, store)


def user_actor(request: Request, store: StoreDep) -> Actor:
    """A signed-in user: account routes take no API keys."""
    from ..services.sessions import actor_from_access_token

    _charge_address(request)
    found = _credentials(request)
    if found is None or found[0] != "token":
        raise AuthError("a user access token is required", hint="sign in: POST /v1/auth/login")
    with _bearer_refused():
        actor = actor_from_access_token(store, found[1], source=source_address(request))
    return _remember(request, actor)


ActorDep = Annotated[Actor, Depends(any_actor)]
UserDep = Annotated[Actor, Depends(user_actor)]
