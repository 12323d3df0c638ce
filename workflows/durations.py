"""Durations as people write them in annotations and flags: "90s", "30m", "2h", "1h30m", "1d"."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(d|h|m|s)")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """Parse or raise ValueError naming the accepted form."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 30m, 2h or 1h30m")
    value = timedelta()
    for number, unit in parts:
        value += timedelta(**{_UNITS[unit]: int(number)})
    if value <= timedelta():
        raise ValueError(f"{text!r} must be longer than zero")
    return value


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n)
    return text or "0s"
