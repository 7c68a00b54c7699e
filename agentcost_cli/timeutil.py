"""Timestamps: parse RFC 3339 (and epoch numbers), store one canonical UTC form.

The canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ` is fixed-width, so text order
is time order in every store and its first 13 characters name the UTC hour
that the rollups key on.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CANONICAL_LEN = 27


def format_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Canonical text back to an aware datetime (fromisoformat is C; strptime is ~10x slower)."""
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def now_utc() -> str:
    return format_utc(datetime.now(UTC))


def _digits(text: str, positions: range) -> bool:
    return all("0" <= text[i] <= "9" for i in positions)


def _check_calendar(canonical: str) -> None:
    try:
        datetime.fromisoformat(canonical[:-1])  # validates month, day, hour... in C
    except ValueError as exc:
        raise ValueError(f"timestamp {canonical!r}: {exc}") from None


def normalize_timestamp(value: object) -> str:
    """Return the canonical UTC text for an RFC 3339 string or an epoch number.

    Raises ValueError with a reason people can act on. A timestamp without an
    offset is rejected: guessing a zone would silently shift costs between days.
    Epoch numbers above 1e11 are read as milliseconds, else as seconds.
    """
    if isinstance(value, bool):
        raise ValueError("timestamp must be RFC 3339 text or an epoch number, not a boolean")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return format_utc(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch timestamp {value!r} is out of range") from None
    if not isinstance(value, str):
        raise ValueError("timestamp must be RFC 3339 text or an epoch number")
    text = value.strip()
    # Fast paths for the two shapes that dominate real logs: already canonical,
    # and JavaScript's millisecond `toISOString()` (Claude Code, most SDKs).
    if (len(text) == CANONICAL_LEN and text[26] == "Z" and text[19] == "." and text[10] == "T"
            and text[4] == "-" and text[7] == "-" and _digits(text, range(20, 26))):
        _check_calendar(text)
        return text
    if (len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T" and text[4] == "-"
            and text[7] == "-" and _digits(text, range(20, 23))):
        canonical = text[:23] + "000Z"
        _check_calendar(canonical)
        return canonical
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"timestamp {value!r} is not RFC 3339") from None
    if moment.tzinfo is None:
        if len(text) == 10:  # a bare date means that UTC day
            moment = moment.replace(tzinfo=UTC)
        else:
            raise ValueError(f"timestamp {value!r} has no UTC offset")
    return format_utc(moment)


def local_zone() -> tzinfo:
    """The machine's zone with its DST rules where we can find them."""
    tz = os.environ.get("TZ")
    if tz:
        try:
            return ZoneInfo(tz.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return datetime.now().astimezone().tzinfo or UTC


def resolve_zone(name: str | None) -> tzinfo:
    from .errors import InvalidInput

    if not name or name == "local":
        return local_zone()
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Paris") from None


def parse_time_arg(text: str, zone: tzinfo, *, now: datetime | None = None) -> datetime:
    """Parse --since/--until: RFC 3339, a date (midnight in `zone`), `today`, `yesterday`, or `7d`/`12h`."""
    from .errors import InvalidInput

    now = now or datetime.now(UTC)
    raw = text.strip().lower()
    local_now = now.astimezone(zone)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if raw == "today":
        return midnight
    if raw == "yesterday":
        return midnight - timedelta(days=1)
    if raw == "now":
        return now
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    if raw[-1:] in units and raw[:-1].isdigit():
        return now - timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidInput(
            f"cannot read time {text!r}",
            hint="use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01), today, yesterday, or 7d/12h",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def time_range(since: str | None, until: str | None, tz: tzinfo,
               names: tuple[str, str] = ("since", "until")) -> tuple[datetime | None, datetime | None]:
    """`--since`/`--until` (or the API's `since`/`until`, as `names` says) as aware datetimes;
    `until` must be later."""
    from .errors import InvalidInput

    start = parse_time_arg(since, tz) if since else None
    end = parse_time_arg(until, tz) if until else None
    if start and end and end <= start:
        raise InvalidInput(f"{names[1]} must be later than {names[0]}")
    return start, end


def seconds_until_http_date(text: str, now: datetime) -> float | None:
    """Seconds from `now` to an RFC 9110 HTTP date (the date form of `Retry-After`), negative when
    it is past; None when `text` is no such date. Naive dates are GMT, as the RFC says."""
    from email.utils import parsedate_to_datetime  # lazily: only a Retry-After date needs it

    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> timedelta:
    """`90s`, `30m`, `24h`, `30d`, `2w`, or `0`; `option` names the input in the error."""
    from .errors import InvalidInput

    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION.match(text)
    if match is None:
        raise InvalidInput(f"cannot read {option} {text!r}", hint="use a duration such as 30m, 24h, 7d or 2w")
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2).lower()])


def parse_expiry(text: str | None, zone: tzinfo, *, now: datetime, option: str = "--expires") -> datetime | None:
    """An expiry: empty (never), a duration from `now` (30d, 12h, 2w), or a date/time (a bare
    date is midnight in `zone`). Words that can only mean the past are refused."""
    from .errors import InvalidInput

    if not text or not text.strip():
        return None
    if _DURATION.match(text):
        return now + parse_duration(text, option)
    if text.strip().lower() in ("today", "yesterday", "now"):
        raise InvalidInput(f"{option} must be in the future", hint="use a duration (30d) or a date")
    return parse_time_arg(text, zone, now=now)
