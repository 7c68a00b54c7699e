"""Login throttling (AU-04): increasing delays per account and per source address, and a
ceiling per sliding hour. Never a permanent lock-out: every refusal says when to retry,
and failures age out of the window, so an attacker cannot lock a user out for good.

Failures are kept in the store, so several daemons on one store share them. Subjects are
SHA-256 hashes: the table holds neither addresses nor emails.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import Throttled
from ..store.base import Store
from ..timeutil import format_utc, parse_utc

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Policy:
    free: int  # failures in the window before delays start
    max_delay_s: int  # the delay doubles from 1 s up to this
    limit: int  # failures in the window after which attempts wait for the oldest to age out


ACCOUNT = Policy(free=5, max_delay_s=30, limit=100)
SOURCE = Policy(free=20, max_delay_s=30, limit=300)  # one office behind a NAT shares an address


def subject(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _wait(failures: list[str], policy: Policy, now: datetime) -> int:
    """Seconds until the next attempt is allowed (0: now)."""
    count = len(failures)
    if count >= policy.limit:
        oldest = parse_utc(failures[count - policy.limit])
        return max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
    if count < policy.free:
        return 0
    delay = min(2 ** (count - policy.free), policy.max_delay_s)
    ready = parse_utc(failures[-1]) + timedelta(seconds=delay)
    return max(0, math.ceil((ready - now).total_seconds()))


def check(store: Store, *, account: str, source: str | None, now: datetime) -> None:
    """Raise Throttled when the account or the source must wait. The same answer for known and
    unknown accounts: the account subject is the email as typed, normalised."""
    since = format_utc(now - WINDOW)
    wait = _wait(store.login_failures("account", subject(account), since), ACCOUNT, now)
    if source:
        wait = max(wait, _wait(store.login_failures("source", subject(source), since), SOURCE, now))
    if wait:
        raise Throttled("too many failed sign-in attempts", retry_after=wait)


def failed(store: Store, *, account: str, source: str | None, now: datetime) -> None:
    stamp = format_utc(now)
    with store.transaction():
        store.add_login_failure("account", subject(account), stamp)
        if source:
            store.add_login_failure("source", subject(source), stamp)
        store.prune_login_failures(format_utc(now - WINDOW))


def succeeded(store: Store, *, account: str) -> None:
    """A correct sign-in clears the account's delays (not the source's: one good account must
    not wash an address that is guessing others)."""
    store.clear_login_failures("account", subject(account))
