"""``--verbose``: one stderr line per HTTP request and response, with credentials redacted."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from moa_cli.redact import redact_url

LOGGER = logging.getLogger("moa")
SECRET_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "session")
"""A header whose name contains any of these is redacted (custom providers name theirs freely)."""


class _SafeFormatter(logging.Formatter):
    """Log lines with no key moa knows and nothing that drives a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        from moa_cli.ui.sanitize import strip_controls

        return strip_controls(super().format(record))


def enable_verbose() -> None:
    """Send moa's debug log to stderr as ``moa: debug: ...`` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("moa: debug: %(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)


def verbose() -> bool:
    return LOGGER.isEnabledFor(logging.DEBUG)


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with every credential replaced by its scheme and ``[redacted]``."""
    shown = {}
    for name, value in headers.items():
        if any(word in name.lower() for word in SECRET_WORDS):
            scheme = value.split(" ", 1)[0] + " " if " " in value else ""
            value = f"{scheme}[redacted]"
        shown[name] = value
    return shown


async def log_request(request: Any) -> None:
    """An httpx request hook: method, URL and headers (redacted)."""
    request.extensions["moa_started"] = time.perf_counter()
    LOGGER.debug("%s %s headers=%s", request.method, redact_url(str(request.url)), redact(request.headers))


async def log_response(response: Any) -> None:
    """An httpx response hook: status, time to headers, and the request id."""
    started = response.request.extensions.get("moa_started", time.perf_counter())
    request_id = response.headers.get("x-request-id", "-")
    LOGGER.debug(
        "%s %s -> %s in %.3fs (x-request-id %s)",
        response.request.method, redact_url(str(response.request.url)), response.status_code,
        time.perf_counter() - started, request_id,
    )


HTTP_HOOKS: dict[str, list[Callable[..., Any]]] = {"request": [log_request], "response": [log_response]}
