"""Two-factor authentication: TOTP enrolment (confirmed by a first code), 10 single-use
recovery codes, replay protection, and disabling with a current code.

The TOTP secret is sealed with the server key (the server must read it back, so it cannot
be hashed); recovery codes are stored as SHA-256 hashes (they carry 120 bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..auth import totp
from ..errors import AuthError, Conflict, InvalidInput
from ..store.base import Store
from . import audit, clock, outbox
from .actor import Actor
from .auth_config import auth_config
from .permissions import require_recent_auth
from .users import _greeting, _self_or_operator


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr: str


def begin_enrolment(store: Store, actor: Actor, email: str | None = None) -> Enrolment:
    """Start enrolment: a new secret, shown once as text and a QR code. Nothing changes for
    sign-in until `confirm_enrolment` gets a first valid code."""
    row = _self_or_operator(store, actor, email)
    require_recent_auth(actor)
    if row["mfa_secret_sealed"] is not None:
        raise Conflict(f"two-factor authentication is already on for {row['email']}",
                       hint="disable it first, or make new recovery codes")
    secret = totp.new_secret()
    store.update_user(int(row["id"]), {"mfa_pending_sealed": auth_config(store).box.seal(secret)})
    uri = totp.provisioning_uri(secret, str(row["email"]))
    return Enrolment(secret=secret, uri=uri, qr=totp.qr_text(uri))


def confirm_enrolment(store: Store, actor: Actor, code: str, email: str | None = None) -> list[str]:
    """Turn MFA on with the first code from the app. Returns the 10 recovery codes (shown once)."""
    row = _self_or_operator(store, actor, email)
    require_recent_auth(actor)
    if row["mfa_pending_sealed"] is None:
        raise InvalidInput("no enrolment in progress", hint="run `agentcost account mfa enable` first")
    secret = auth_config(store).box.open(row["mfa_pending_sealed"])
    step = totp.verify(secret, code, now=clock.now(), last_step=None)
    if step is None:
        audit.record(store, actor, "mfa.enable", target=row["email"], outcome=audit.FAILED)
        raise AuthError("wrong code", hint="check the phone's clock, and enter the current code")
    codes = totp.new_recovery_codes()
    now = clock.now_text()
    with store.transaction():
        store.update_user(int(row["id"]), {
            "mfa_secret_sealed": row["mfa_pending_sealed"], "mfa_pending_sealed": None, "mfa_last_step": step,
            "mfa_enabled_utc": now,
        })
        store.replace_recovery_codes(int(row["id"]), [totp.hash_recovery_code(c) for c in codes], now)
        _notify(store, row, "enabled", now)
        audit.record(store, actor, "mfa.enable", target=row["email"])
    return codes


def check_second_factor(store: Store, row: dict[str, Any], code: str) -> bool:
    """A current TOTP code (each time step once: AU-10) or an unused recovery code (once: AU-11)."""
    compact = code.replace(" ", "").replace("-", "")
    if compact.isdigit() and len(compact) == 6:
        secret = auth_config(store).box.open(row["mfa_secret_sealed"])
        step = totp.verify(secret, compact, now=clock.now(), last_step=row["mfa_last_step"])
        if step is None:
            return False
        store.update_user(int(row["id"]), {"mfa_last_step": step})
        return True
    return store.consume_recovery_code(int(row["id"]), totp.hash_recovery_code(code), clock.now_text())


def disable(store: Store, actor: Actor, code: str, email: str | None = None) -> None:
    """Turn MFA off; needs a current code or a recovery code, whoever asks."""
    row = _self_or_operator(store, actor, email)
    require_recent_auth(actor)
    _require_code(store, actor, row, code, "mfa.disable")
    now = clock.now_text()
    with store.transaction():
        store.update_user(int(row["id"]), {"mfa_secret_sealed": None, "mfa_pending_sealed": None,
                                           "mfa_last_step": None, "mfa_enabled_utc": None})
        store.replace_recovery_codes(int(row["id"]), [], now)
        _notify(store, row, "disabled", now)
        audit.record(store, actor, "mfa.disable", target=row["email"])


def regenerate_recovery_codes(store: Store, actor: Actor, code: str, email: str | None = None) -> list[str]:
    """Replace the recovery codes (the old ones stop working); needs a current code."""
    row = _self_or_operator(store, actor, email)
    require_recent_auth(actor)
    _require_code(store, actor, row, code, "mfa.recovery_codes")
    codes = totp.new_recovery_codes()
    now = clock.now_text()
    with store.transaction():
        store.replace_recovery_codes(int(row["id"]), [totp.hash_recovery_code(c) for c in codes], now)
        audit.record(store, actor, "mfa.recovery_codes", target=row["email"])
    return codes


def _require_code(store: Store, actor: Actor, row: dict[str, Any], code: str, action: str) -> None:
    """A change to an enrolled second factor needs a current code, audited when wrong."""
    if row["mfa_secret_sealed"] is None:
        raise Conflict(f"two-factor authentication is not on for {row['email']}")
    if not check_second_factor(store, row, code):
        audit.record(store, actor, action, target=row["email"], outcome=audit.FAILED)
        raise AuthError("wrong or already used code")


def _notify(store: Store, row: dict[str, Any], change: str, now: str) -> None:
    outbox.enqueue(store, template="mfa_changed", recipient=row["email"],
                   variables={"name": _greeting(row), "email": row["email"], "change": change, "when": now[:19]},
                   idempotency_key=f"mfa_{change}/{row['id']}/{now}")
