"""What servers send besides the answer's text: usage, error bodies and ``Retry-After``."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from moa_cli.events import Usage


def usage_of(usage: Mapping[str, Any]) -> Usage:
    """Our :class:`Usage` from a chunk's ``usage`` (Groq adds its own timings)."""
    details = usage.get("prompt_tokens_details")
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=(details.get("cached_tokens") or 0) if isinstance(details, Mapping) else 0,
        queue_time=usage.get("queue_time"),
        prompt_time=usage.get("prompt_time"),
        completion_time=usage.get("completion_time"),
    )


def error_details(body: object, raw: str) -> tuple[str, str | None]:
    """The human message and the machine code from an error body (``{"error": {...}}``)."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message")
            code = error.get("code")
            if isinstance(message, str) and message:
                return message.strip(), code if isinstance(code, str) else None
    text = " ".join(raw.split())[:200]
    return text or "no details", None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def format_wait(seconds: float) -> str:
    """``7.5s``, ``7m12s`` or ``3h05m``: a wait as a person reads it."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
