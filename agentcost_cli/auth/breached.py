"""Breached-password check (AU-03) through the Have I Been Pwned range API, by k-anonymity:
only the first 5 hex characters of the password's SHA-1 leave the machine, and the answer
lists every known suffix with that prefix (padded, so its size says nothing either).

It fails open: when the service cannot be reached the password is judged by the local
policy alone, and the caller says so. A down third party must not stop sign-ups.
"""

from __future__ import annotations

import hashlib

DEFAULT_URL = "https://api.pwnedpasswords.com/range/"


def breach_count(password: str, *, url: str, timeout: float = 3.0) -> int | None:
    """How many breaches the password appears in (0: none known); None when the service could
    not answer (offline, an error status, a malformed reply)."""
    import httpx

    digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    try:
        response = httpx.get(url.rstrip("/") + "/" + prefix, timeout=timeout, follow_redirects=False,
                             headers={"Add-Padding": "true", "User-Agent": "agentcost"})
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    for line in response.text.splitlines():
        candidate, _, count = line.strip().partition(":")
        if len(candidate) != 35:
            return None  # not a range answer: do not guess
        if candidate.upper() == suffix:
            try:
                return int(count)
            except ValueError:
                return None
    return 0
