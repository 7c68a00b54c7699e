"""Sign-in and the signed-in user's own account: `/v1/auth/*` and `/v1/me*`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ...errors import NotFound
from ...services import mfa, sessions, users
from ...services.sessions import Tokens
from ..deps import StoreDep, UserDep, source_address
from ..schemas import (
    CodeRequest,
    EmailRequest,
    LoginRequest,
    Message,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    ResetRequest,
    TokenPair,
    TokenRequest,
    VerifiedEmail,
)


def _no_store(response: Response) -> None:
    """Tokens and account data must not be cached anywhere, whether or not the request carried
    credentials (a sign-in does not)."""
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(tags=["auth"], dependencies=[Depends(_no_store)])
SAME_ANSWER = "if the address has an account, an email is on its way"


def _pair(tokens: Tokens) -> dict[str, Any]:
    return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token, "token_type": "Bearer",
            "expires_in": 900, "session_id": tokens.session_id, "refresh_expires_at": tokens.session_expires_utc}


def _auth_limit(request: Request, email: str | None = None) -> None:
    limiter = request.app.state.limiter
    if limiter is not None:
        limiter.charge_auth(request, email)


@router.post("/v1/auth/login", response_model=TokenPair, responses={
    401: {"description": "Wrong credentials (`/problems/unauthenticated`) or a code is needed "
                         "(`/problems/mfa-required`)."},
    429: {"description": "Too many attempts for this account or address; see Retry-After."}})
def login(body: LoginRequest, request: Request, store: StoreDep) -> dict[str, Any]:
    """Sign in with email and password (and a TOTP or recovery code when the account has MFA).
    Unknown and known emails get the same answer in the same time."""
    _auth_limit(request, body.email)
    return _pair(sessions.login(store, email=body.email, password=body.password, code=body.code,
                                source=source_address(request), user_agent=request.headers.get("user-agent")))


@router.post("/v1/auth/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, request: Request, store: StoreDep) -> dict[str, Any]:
    """Trade a refresh token for a new pair. The old refresh token is retired: presenting it again
    ends the whole session."""
    _auth_limit(request)
    return _pair(sessions.refresh(store, body.refresh_token, source=source_address(request)))


@router.post("/v1/auth/logout", status_code=204, response_class=Response)
def logout(body: RefreshRequest, request: Request, store: StoreDep) -> Response:
    """End the session the refresh token belongs to."""
    sessions.logout(store, body.refresh_token, source=source_address(request))
    return Response(status_code=204)


@router.post("/v1/auth/register", response_model=Message, status_code=202)
def register(body: RegisterRequest, request: Request, store: StoreDep) -> dict[str, str]:
    """Create an account (when the server allows sign-up). The answer is the same for a new and a
    taken address; a verification email follows for a new one."""
    if not request.app.state.config.open_registration:
        raise NotFound("registration is closed on this server", hint="ask an administrator for an account")
    _auth_limit(request, body.email)
    users.register(store, email=body.email, password=body.password, name=body.name, source=source_address(request))
    return {"message": SAME_ANSWER}


@router.post("/v1/auth/forgot-password", response_model=Message, status_code=202)
def forgot_password(body: EmailRequest, request: Request, store: StoreDep) -> dict[str, str]:
    """Send a password-reset link (valid 30 minutes). Same answer for every address."""
    _auth_limit(request, body.email)
    users.request_password_reset(store, body.email, source=source_address(request))
    return {"message": SAME_ANSWER}


@router.post("/v1/auth/reset-password", response_model=Message)
def reset_password(body: ResetRequest, request: Request, store: StoreDep) -> dict[str, str]:
    """Choose a new password with the emailed token. Ends every session; sign in afterwards."""
    _auth_limit(request)
    users.reset_password(store, body.token, body.password, source=source_address(request))
    return {"message": "password changed; sign in with the new one"}


@router.post("/v1/auth/verify-email", response_model=VerifiedEmail)
def verify_email(body: TokenRequest, request: Request, store: StoreDep) -> dict[str, str]:
    """Confirm an address with the emailed token (single use, 24 hours); answers the address."""
    _auth_limit(request)
    email = users.verify_email(store, body.token, source=source_address(request))
    return {"message": f"{email} is verified", "email": email}


@router.get("/v1/me", tags=["me"])
def me(actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """The signed-in user, with their projects and roles."""
    return users.show_user(store, actor)


@router.post("/v1/me/password", response_model=Message, tags=["me"])
def change_password(body: PasswordChange, actor: UserDep, store: StoreDep) -> dict[str, str]:
    """Change the password (the current one is required). Other sessions end."""
    users.change_password(store, actor, new_password=body.new_password, current_password=body.current_password)
    return {"message": "password changed; your other sessions have ended"}


@router.post("/v1/me/email", tags=["me"])
def change_email(body: EmailRequest, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """Move the account to another address (needs a sign-in in the last 5 minutes)."""
    return users.change_email(store, actor, body.email)


@router.get("/v1/me/sessions", tags=["me"])
def my_sessions(actor: UserDep, store: StoreDep) -> dict[str, Any]:
    return {"sessions": sessions.list_sessions(store, actor)}


@router.delete("/v1/me/sessions/{session_id}", status_code=204, response_class=Response, tags=["me"])
def revoke_session(session_id: int, actor: UserDep, store: StoreDep) -> Response:
    sessions.revoke_session(store, actor, session_id)
    return Response(status_code=204)


@router.post("/v1/me/mfa", tags=["me"])
def begin_mfa(actor: UserDep, store: StoreDep) -> dict[str, str]:
    """Start TOTP enrolment: the secret and an otpauth:// URI (shown once). Confirm with a code."""
    enrolment = mfa.begin_enrolment(store, actor)
    return {"secret": enrolment.secret, "uri": enrolment.uri}


@router.post("/v1/me/mfa/confirm", tags=["me"])
def confirm_mfa(body: CodeRequest, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    """Turn MFA on with the first code; answers the 10 recovery codes (shown once)."""
    return {"recovery_codes": mfa.confirm_enrolment(store, actor, body.code)}


@router.post("/v1/me/mfa/disable", response_model=Message, tags=["me"])
def disable_mfa(body: CodeRequest, actor: UserDep, store: StoreDep) -> dict[str, str]:
    mfa.disable(store, actor, body.code)
    return {"message": "two-factor authentication is off"}


@router.post("/v1/me/recovery-codes", tags=["me"])
def recovery_codes(body: CodeRequest, actor: UserDep, store: StoreDep) -> dict[str, Any]:
    return {"recovery_codes": mfa.regenerate_recovery_codes(store, actor, body.code)}
