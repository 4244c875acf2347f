"""Durations as operators write them: 90s, 15m, 1h30m, 2d, or plain seconds."""

from __future__ import annotations

import re

from promote.errors import usage_error

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in TEXT, e.g. "15m" -> 900.0; a usage error for anything else."""
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise usage_error(f"'{text}' is not a duration", "write it like 90s, 15m, 1h30m or 2d")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """900 -> "15m", 95 -> "1m35s"."""
    whole = round(seconds)
    if whole == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        count, whole = divmod(whole, _UNIT_SECONDS[unit])
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
