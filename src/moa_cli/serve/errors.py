"""OpenAI-style error objects: ``{"error": {"message", "type", "code", "param"}}`` with an HTTP status."""

from __future__ import annotations

import math
from typing import Any

from moa_cli.events import AgentResult, MoaResult
from moa_cli.redact import scrub


class ApiError(Exception):
    """Raised while handling a request; becomes an error object with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = scrub(message)  # an upstream error may quote a key: never pass it to a client
        self.retry_after = retry_after
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``Retry-After`` in whole seconds when the wait is known, which the SDKs' retries honour."""
        if self.retry_after is None:
            return []
        return [(b"retry-after", str(max(1, math.ceil(self.retry_after))).encode())]


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """400: the request cannot be answered as it is."""
    return ApiError(400, message, param=param, code=code)


def unknown_model(model: str, known: list[str]) -> ApiError:
    """404: no mixture has this id."""
    message = f"The model `{model}` does not exist; this server offers: {', '.join(known)}"
    return ApiError(404, message, param="model", code="model_not_found")


def stopping() -> ApiError:
    """503: the server is shutting down and takes no new work."""
    return ApiError(503, "moa serve is shutting down", type="server_error", code="server_shutting_down")


def run_failed(result: MoaResult) -> ApiError:
    """What a run that gave no answer becomes: 429 when rate limits alone stopped it, else 502."""
    if result.status == "interrupted":
        return stopping()
    failed: list[AgentResult]
    if result.aggregator is not None and not result.aggregator.ok:
        failed, code = [result.aggregator], "aggregator_failed"
    else:
        failed, code = [r for r in result.references if not r.ok], "all_references_failed"
    message = result.error or "the mixture gave no answer"
    if failed and all(r.error_kind == "rate_limited" for r in failed):
        waits = [r.retry_after for r in failed if r.retry_after is not None]
        return ApiError(429, message, type="rate_limit_error", code="rate_limit_exceeded",
                        retry_after=min(waits) if waits else None)
    return ApiError(502, message, type="server_error", code=code)
