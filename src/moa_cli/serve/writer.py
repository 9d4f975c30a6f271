"""The response bodies: a whole ``chat.completion``, or the SSE events of a streamed one.

Clients read the standard fields; the ``moa`` field (each agent's model, text, status, usage and
timing) is an extension that clients which do not know it ignore.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Final

from moa_cli.events import MoaResult
from moa_cli.serve.errors import ApiError
from moa_cli.ui.json_output import result_dict

DONE: Final = b"data: [DONE]\n\n"


def completion_id() -> str:
    return "chatcmpl-moa-" + os.urandom(12).hex()


def usage_body(result: MoaResult) -> dict[str, int] | None:
    """OpenAI's usage object: the sum over every agent of the run, null when one did not say
    (:attr:`MoaResult.reported_usage`)."""
    usage = result.reported_usage
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def moa_field(result: MoaResult) -> dict[str, Any]:
    """The ``moa`` extension: the run's status and every reference's and the aggregator's output."""
    detail = result_dict(result)
    del detail["question"], detail["answer"]  # both are in the request and the response already
    return detail


def completion(model: str, result: MoaResult, finish_reason: str) -> dict[str, Any]:
    """The non-streamed response to a run that answered."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_body(result),
        "moa": moa_field(result),
    }


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def error_event(error: ApiError) -> bytes:
    """An error inside a stream that already began: the SDKs raise it as an API error."""
    return sse(error.body())


class ChunkWriter:
    """The ``chat.completion.chunk`` events of one streamed answer, all with one id."""

    def __init__(self, model: str) -> None:
        self.base: dict[str, Any] = {
            "id": completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        head = json.dumps(self.base)[:-1] + ', "choices": [{"index": 0, "delta": {"content": '
        self._open = b"data: " + head.encode()
        self._close = b'}, "logprobs": null, "finish_reason": null}]}\n\n'

    def role(self) -> bytes:
        """The first chunk: the assistant's role and no text yet."""
        return self._choice({"role": "assistant", "content": ""}, None)

    def content(self, text: str) -> bytes:
        """A piece of the answer (made from a template: one per delta, at any rate the aggregator writes)."""
        return self._open + json.dumps(text, ensure_ascii=False).encode() + self._close

    def finish(self, reason: str, result: MoaResult | None) -> bytes:
        """The last choice chunk; it carries the ``moa`` field unless a usage chunk follows."""
        extra = {"moa": moa_field(result)} if result is not None else {}
        return self._choice({}, reason, extra)

    def usage(self, result: MoaResult) -> bytes:
        """``stream_options.include_usage``: no choices, the run's usage and the ``moa`` field."""
        return sse({**self.base, "choices": [], "usage": usage_body(result), "moa": moa_field(result)})

    def _choice(self, delta: dict[str, Any], reason: str | None, extra: dict[str, Any] | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return sse({**self.base, "choices": [choice], **(extra or {})})
