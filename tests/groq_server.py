"""A fake Groq chat-completions server on 127.0.0.1, for tests and benchmarks.

It speaks Groq's wire protocol closely enough for the real ``groq`` SDK
(``groq.Groq`` / ``groq.AsyncGroq`` with ``base_url=server.base_url``):

* ``POST /openai/v1/chat/completions`` -- streaming (SSE over chunked
  encoding) and non-streaming chat completions, Groq-style error bodies.
* ``GET /openai/v1/models`` -- the configured model ids.
* ``/openai/v1/files`` and ``/openai/v1/batches`` -- Groq's Batch API (``groq_batch_api.py``).

Per-model behaviour (text, reasoning, latency, rate, errors, hangs, dropped
connections, mid-stream errors) is set with :class:`Behavior`.

Library use::

    with GroqServer({"m1": Behavior(text="hi")}) as server:
        client = groq.Groq(api_key="k", base_url=server.base_url)
        ...
        server.wait_for_requests(1)

Standalone (benchmarks)::

    python tests/groq_server.py --port 0 --profile profile.json
    # prints "READY http://127.0.0.1:PORT" and serves until killed.

The profile JSON maps model ids to Behavior fields, with "*" as the default::

    {"*": {"tokens_per_second": 1000, "first_token_delay": 0.2},
     "llama-3.3-70b-versatile": {"text": "...", "tokens_per_second": 500}}

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from groq_batch_api import BatchApi
from groq_limits import FREE_TIER, Grant, Limiter, Refusal, TierLimits

__all__ = ["Behavior", "GroqServer", "RecordedRequest", "tokenize", "CHAT_PATH", "MODELS_PATH"]

CHAT_PATH = "/openai/v1/chat/completions"
MODELS_PATH = "/openai/v1/models"
OPENAI_PREFIX = "/v1"
"""With ``flavor="openai"`` the server speaks the OpenAI protocol instead: ``/v1/...`` paths, no
``x_groq``, and usage in a last chunk with no choices, sent when ``stream_options.include_usage``."""
ORG = "org_test"
BAD_KEY = "bad-key"

_TOKEN_RE = re.compile(r"\S+\s*|\s+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word-ish tokens whose concatenation is exactly ``text``."""
    return _TOKEN_RE.findall(text)


@dataclass
class Behavior:
    """How the server answers requests for one model."""

    text: str | None = None
    """The answer; None -> ``f"{model} answers: {last user message}"``."""
    reasoning: str = ""
    """Streamed first, as ``delta.reasoning`` chunks (like gpt-oss on Groq)."""
    first_token_delay: float = 0.0
    """Seconds between sending the response headers and the first data chunk."""
    tokens_per_second: float | None = None
    """None = as fast as possible; otherwise tokens are paced at this rate."""
    status: int = 200
    """Non-200: reply with Groq's JSON error body for this status."""
    error_message: str | None = None
    """Overrides the default message of the error body."""
    error_code: str | None = None
    """Overrides error.code, e.g. "model_not_found", "model_decommissioned"."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers, e.g. {"retry-after": "1"}."""
    fail_times: int = 0
    """With status != 200: fail this many requests for this model, then answer 200.
    0 means fail every request."""
    hang: bool = False
    """Accept the request and never answer (until server shutdown)."""
    drop_after_tokens: int | None = None
    """Stream this many tokens, then close the connection mid-body."""
    stream_error_after_tokens: int | None = None
    """Stream this many tokens, then an SSE ``{"error": ...}`` event, then end."""
    prompt_tokens: int | None = None
    """usage.prompt_tokens; None -> number of words in all messages."""
    no_usage: bool = False
    """Stream no usage at all, as llama-cpp-python's server does (even with ``include_usage``)."""
    raw_body: str | None = None
    """Answer 200 with this body instead of a stream (``Content-Type`` from ``headers``, else text/html)."""
    empty_choices: bool = False
    """Stream every chunk, the last one too, with ``"choices": []``, then ``[DONE]``."""
    finish_reason: str | None = None
    """The last chunk's finish_reason (``length``, ``content_filter``...); None -> ``stop``, or
    ``length`` when max_tokens cut the text."""
    end_without_done: bool = False
    """After the text, end the body cleanly with neither a finish_reason nor ``[DONE]``."""
    interrupt_on_next: bool = False
    """Like llama-cpp-python's server by default: a stream still running when another request
    with this flag arrives sends ``[DONE]`` (no finish_reason) and drops its connection."""


@dataclass
class RecordedRequest:
    """One chat-completions request as received by the server."""

    model: str
    messages: list[dict]
    body: dict
    headers: dict[str, str]
    received_at: float
    """time.perf_counter() when the request body had been read."""
    status: int | None = None
    """HTTP status the server answered with (None while undecided / hanging)."""
    first_byte_sent_at: float | None = None
    """perf_counter() when the first data chunk (streaming) or the whole
    response (non-streaming / error) was written."""
    first_token_sent_at: float | None = None
    """perf_counter() when the first reasoning/content token chunk was written."""
    last_byte_sent_at: float | None = None
    """perf_counter() when the last byte of the response was written."""
    hung_up_at: float | None = None
    """perf_counter() when a write failed because the client had closed the connection."""
    connection: int = 0
    """The client's port: requests sent on one kept-alive connection share it."""

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def last_user_message(self) -> str:
        return _last_user_content(self.messages)


# --------------------------------------------------------------------------- helpers


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _last_user_content(messages: list[dict]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _count_prompt_tokens(messages: list[dict]) -> int:
    return sum(
        len(_content_text(m.get("content")).split()) for m in messages if isinstance(m, dict)
    )


def default_text(model: str, messages: list[dict]) -> str:
    """The deterministic default answer: ``"{model} answers: {last user message}"``.

    The user message is cut to 200 characters so aggregator prompts stay short.
    """
    asked = _last_user_content(messages)
    if len(asked) > 200:
        asked = asked[:200] + "..."
    return f"{model} answers: {asked}"


def error_body(status: int, model: str, message: str | None = None, code: str | None = None) -> dict:
    """Groq's JSON error body for ``status`` (with Groq-like default messages)."""
    err_type = "invalid_request_error"
    default_code: str | None = None
    if status == 401:
        default_message, default_code = "Invalid API Key", "invalid_api_key"
    elif status == 404:
        default_message = f"The model `{model}` does not exist or you do not have access to it."
        default_code = "model_not_found"
    elif status == 400 and code == "model_decommissioned":
        default_message = (
            f"The model `{model}` has been decommissioned and is no longer supported. Please refer to "
            "https://console.groq.com/docs/deprecations for a recommendation on which model to use instead."
        )
    elif status == 400:
        default_message = "Bad request"
    elif status == 413:
        err_type, default_code = "tokens", "rate_limit_exceeded"
        default_message = (
            f"Request too large for model `{model}` in organization `{ORG}` service tier `on_demand` "
            "on tokens per minute (TPM): Limit 8000, Requested 20000, please reduce your message size "
            "and try again."
        )
    elif status == 429:
        err_type, default_code = "requests", "rate_limit_exceeded"
        default_message = (
            f"Rate limit reached for model `{model}` in organization `{ORG}` service tier `on_demand` "
            "on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 7m12s."
        )
    elif status == 503:
        err_type, default_message = "internal_server_error", "Service Unavailable"
    elif status >= 500:
        err_type, default_message = "internal_server_error", "Internal Server Error"
    else:
        default_message = f"Request failed with status {status}"
    error: dict[str, Any] = {"message": message or default_message, "type": err_type}
    if code or default_code:
        error["code"] = code or default_code
    return {"error": error}


def _new_ids() -> tuple[str, str]:
    return "chatcmpl-" + uuid.uuid4().hex[:24], "req_" + uuid.uuid4().hex[:26]


class _Stopped(Exception):
    """Raised inside a handler when the server is shutting down."""


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    fake: GroqServer  # set by GroqServer.start()

    def process_request(self, request, client_address):  # type: ignore[override]
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        self.fake._track_thread(thread)
        thread.start()

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _Stopped, ValueError)) or self.fake._stopping.is_set():
            return  # client went away / shutdown: not interesting
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has a length or is chunked
    disable_nagle_algorithm = True  # one small write per token must not wait for ACKs
    server_version = "groq-fake/1.0"
    sys_version = ""
    server: _HTTPServer

    # -- plumbing -------------------------------------------------------------

    def setup(self) -> None:
        if self.server.fake.tls is not None:  # the handshake runs in this connection's own thread
            self.request = self.server.fake.tls.wrap_socket(self.request, server_side=True)
        super().setup()
        self.server.fake._track_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._untrack_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # silence access logs
        pass

    def _send_json(self, status: int, payload: dict, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _new_ids()[1])
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.fake._stopping.wait(seconds):
            raise _Stopped

    def _wait_until(self, deadline: float) -> None:
        self._wait(deadline - time.perf_counter())

    # -- routes ---------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.server.fake.batch_api.handles(path):  # the Batch API: groq_batch_api.py
            if self._authorized():
                self.server.fake.batch_api.serve(self, "GET", path, b"")
            return
        if path.rstrip("/") != self.server.fake.models_path:
            return self._unknown_url("GET")
        if not self._authorized():
            return
        created = int(time.time())
        data = [
            {
                "id": model,
                "object": "model",
                "created": created,
                "owned_by": "Groq Test",
                "active": True,
                "context_window": 131072,
                "public_apps": None,
                "max_completion_tokens": 32768,
            }
            for model in self.server.fake.model_ids()
        ]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        received_at = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if self.server.fake.batch_api.handles(path):  # the Batch API: groq_batch_api.py
            if self._authorized():
                self.server.fake.batch_api.serve(self, "POST", path, raw)
            return
        if path.rstrip("/") != self.server.fake.chat_path:
            return self._unknown_url("POST")
        if not self._authorized():
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self._send_json(400, error_body(400, "", "Failed to parse request body as JSON"))
        if not isinstance(body, dict):
            return self._send_json(400, error_body(400, "", "Request body must be a JSON object"))
        model = body.get("model")
        messages = body.get("messages")
        if not isinstance(model, str) or not model:
            return self._send_json(400, error_body(400, "", "'model' : property 'model' is missing"))
        if not isinstance(messages, list) or not messages:
            return self._send_json(400, error_body(400, model, "'messages' : minimum number of items is 1"))

        fake = self.server.fake
        record = RecordedRequest(
            model=model,
            messages=messages,
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
            received_at=received_at,
            connection=self.client_address[1],
        )
        behavior, fail = fake._resolve(model)
        fake._record(record)
        arrival = fake._arrive() if behavior.interrupt_on_next else 0
        self._grant: Grant | None = None
        if fake.limiter is not None and not fail and not behavior.hang:
            verdict = self._admit(fake.limiter, record, behavior)
            if isinstance(verdict, Refusal):
                record.status = verdict.status
                record.first_byte_sent_at = record.last_byte_sent_at = time.perf_counter()
                return self._send_json(verdict.status, verdict.body, verdict.headers)
            self._grant = verdict

        try:
            if behavior.hang:
                fake._stopping.wait()
                raise _Stopped
            if fail:
                record.status = behavior.status
                # Stamped just before writing: a client may read the reply before this thread runs on.
                record.first_byte_sent_at = record.last_byte_sent_at = time.perf_counter()
                self._send_json(
                    behavior.status,
                    error_body(behavior.status, model, behavior.error_message, behavior.error_code),
                    behavior.headers,
                )
                return
            if behavior.raw_body is not None:
                self._raw(record, behavior)
            elif body.get("stream"):
                self._stream(record, behavior, arrival)
            else:
                self._complete(record, behavior)
        except _Stopped:
            self.close_connection = True
        except OSError:
            record.hung_up_at = time.perf_counter()  # the client closed the connection mid-answer
            raise

    def _admit(self, limiter: Limiter, record: RecordedRequest, behavior: Behavior) -> Grant | Refusal | None:
        limit = record.body.get("max_completion_tokens") or record.body.get("max_tokens")
        prompt = behavior.prompt_tokens if behavior.prompt_tokens is not None else _count_prompt_tokens(record.messages)
        return limiter.admit(record.model, record.messages, prompt, limit if isinstance(limit, int) else 1024)

    def _limit_headers(self) -> dict[str, str]:
        return self._grant.headers if self._grant is not None else {}

    def _settle(self, usage: dict[str, Any]) -> None:
        """Cached prompt tokens into ``usage``; unused ``max_tokens`` back to the limiter."""
        if self._grant is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self._grant.cached_tokens}
            self.server.fake.limiter.settle(self._grant, usage["completion_tokens"])  # type: ignore[union-attr]

    def _unknown_url(self, method: str) -> None:
        self._send_json(
            404,
            {
                "error": {
                    "message": f"Unknown request URL: {method} {self.path}. Please check the URL for typos, "
                    "or see the docs at https://console.groq.com/docs/",
                    "type": "invalid_request_error",
                    "code": "unknown_url",
                }
            },
        )

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip() or key.strip() == BAD_KEY:
            self._send_json(401, error_body(401, ""))
            return False
        return True

    # -- answers --------------------------------------------------------------

    def _plan(self, record: RecordedRequest, behavior: Behavior) -> tuple[list[str], list[str], str, int]:
        text = behavior.text if behavior.text is not None else default_text(record.model, record.messages)
        reasoning_tokens = tokenize(behavior.reasoning) if behavior.reasoning else []
        content_tokens = tokenize(text)
        finish_reason = "stop"
        limit = record.body.get("max_completion_tokens") or record.body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and len(reasoning_tokens) + len(content_tokens) > limit:
            finish_reason = "length"
            reasoning_tokens = reasoning_tokens[:limit]
            content_tokens = content_tokens[: limit - len(reasoning_tokens)]
        prompt_tokens = (
            behavior.prompt_tokens
            if behavior.prompt_tokens is not None
            else _count_prompt_tokens(record.messages)
        )
        return reasoning_tokens, content_tokens, finish_reason, prompt_tokens

    @staticmethod
    def _usage(prompt_tokens: int, completion_tokens: int, behavior: Behavior, completion_time: float) -> dict:
        prompt_time = round(max(behavior.first_token_delay, 0.0), 6)
        completion_time = round(completion_time, 6)
        return {
            "queue_time": 0.0001,
            "prompt_tokens": prompt_tokens,
            "prompt_time": prompt_time,
            "completion_tokens": completion_tokens,
            "completion_time": completion_time,
            "total_tokens": prompt_tokens + completion_tokens,
            "total_time": round(prompt_time + completion_time, 6),
        }

    def _complete(self, record: RecordedRequest, behavior: Behavior) -> None:
        reasoning_tokens, content_tokens, finish_reason, prompt_tokens = self._plan(record, behavior)
        n = len(reasoning_tokens) + len(content_tokens)
        tps = behavior.tokens_per_second
        # Same timeline as streaming: token i is ready at first_token_delay + i/tps.
        generation = max(n - 1, 0) / tps if tps else 0.0
        self._wait(behavior.first_token_delay + generation)
        chat_id, request_id = _new_ids()
        message: dict[str, Any] = {"role": "assistant", "content": "".join(content_tokens)}
        if reasoning_tokens:
            message["reasoning"] = "".join(reasoning_tokens)
        payload = {
            "id": chat_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": record.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": self._usage(prompt_tokens, n, behavior, generation),
            "system_fingerprint": "fp_test",
            "x_groq": {"id": request_id},
        }
        self._settle(payload["usage"])
        if record.body.get("seed") is not None:
            payload["x_groq"]["seed"] = record.body["seed"]
        record.status = 200
        record.first_byte_sent_at = record.first_token_sent_at = record.last_byte_sent_at = time.perf_counter()
        self._send_json(200, payload, {**behavior.headers, **self._limit_headers()})

    def _raw(self, record: RecordedRequest, behavior: Behavior) -> None:
        data = behavior.raw_body.encode()  # type: ignore[union-attr]
        record.status = 200
        record.first_byte_sent_at = record.last_byte_sent_at = time.perf_counter()
        self.send_response(200)
        headers = {"Content-Type": "text/html", **behavior.headers}
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, record: RecordedRequest, behavior: Behavior, arrival: int = 0) -> None:
        reasoning_tokens, content_tokens, finish_reason, prompt_tokens = self._plan(record, behavior)
        finish_reason = behavior.finish_reason or finish_reason
        chat_id, request_id = _new_ids()
        created = int(time.time())
        head = (
            '{"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,"system_fingerprint":"fp_test",'
            '"choices":[{"index":0,"delta":' % (json.dumps(chat_id), created, json.dumps(record.model))
        ).encode()
        reasoning_open = head + b'{"reasoning":'
        content_open = head + b'{"content":'
        token_close = b'},"logprobs":null,"finish_reason":null}]}\n\n'
        empty_head = head.removesuffix(b'"choices":[{"index":0,"delta":') + b'"choices":[],"x":'
        if behavior.empty_choices:  # the token goes where no reader looks for text
            reasoning_open, content_open, token_close = empty_head, empty_head, b"}\n\n"
        write = self.wfile.write

        record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", request_id)
        for name, value in {**behavior.headers, **self._limit_headers()}.items():
            self.send_header(name, value)
        self.end_headers()

        start = time.perf_counter()
        first_at = start + max(behavior.first_token_delay, 0.0)
        self._wait_until(first_at)
        opening = b'{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]'
        if self.server.fake.flavor == "openai":
            first = head + opening + b"}\n\n"
        else:
            first = head + opening + b',"x_groq":{"id":%s}}\n\n' % json.dumps(request_id).encode()
        if behavior.empty_choices:
            first = empty_head + b'""}\n\n'
        record.first_byte_sent_at = time.perf_counter()
        self._write_chunk(b"data: " + first)

        tps = behavior.tokens_per_second
        interval = 1.0 / tps if tps else 0.0
        next_at = first_at
        sent = 0
        drop_after = behavior.drop_after_tokens
        error_after = behavior.stream_error_after_tokens
        stopping = self.server.fake._stopping
        for opener, tokens in ((reasoning_open, reasoning_tokens), (content_open, content_tokens)):
            for token in tokens:
                if behavior.interrupt_on_next and self.server.fake._arrivals > arrival:
                    self._write_chunk(b"data: [DONE]\n\n")
                    return self._drop(record)
                if sent == drop_after:
                    return self._drop(record)
                if sent == error_after:
                    return self._stream_error(record)
                if interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0 and stopping.wait(delay):
                        raise _Stopped
                    next_at += interval
                data = b"data: " + opener + json.dumps(token).encode() + token_close
                if sent == 0:
                    record.first_token_sent_at = time.perf_counter()
                write(b"%x\r\n%s\r\n" % (len(data), data))
                sent += 1
        if sent == drop_after:
            return self._drop(record)
        if sent == error_after:
            return self._stream_error(record)
        if behavior.end_without_done:
            record.last_byte_sent_at = time.perf_counter()
            return write(b"0\r\n\r\n")

        usage = self._usage(prompt_tokens, sent, behavior, time.perf_counter() - first_at)
        self._settle(usage)
        final: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": record.model,
            "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}],
            "x_groq": {"id": request_id, "usage": usage},
        }
        if behavior.empty_choices:
            final["choices"] = []
        if record.body.get("seed") is not None:
            final["x_groq"]["seed"] = record.body["seed"]
        stream_options = record.body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage")
        if behavior.no_usage:
            del final["x_groq"]["usage"]
            include_usage = False
        if self.server.fake.flavor == "openai":
            del final["x_groq"]
            final_data = b"data: " + json.dumps(final).encode() + b"\n\n"
            if include_usage:
                final_data += b"data: " + json.dumps({**final, "choices": [], "usage": usage}).encode() + b"\n\n"
        else:
            if include_usage:
                final["usage"] = usage
            final_data = b"data: " + json.dumps(final).encode() + b"\n\n"
        done = b"data: [DONE]\n\n"
        record.last_byte_sent_at = time.perf_counter()
        write(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(final_data), final_data, len(done), done))

    def _drop(self, record: RecordedRequest) -> None:
        """Close the connection mid-body: no final chunk, no [DONE], no 0-length chunk."""
        record.last_byte_sent_at = time.perf_counter()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stream_error(self, record: RecordedRequest) -> None:
        payload = {"error": {"message": "Internal Server Error", "type": "internal_server_error"}}
        data = b"data: " + json.dumps(payload).encode() + b"\n\n"
        record.last_byte_sent_at = time.perf_counter()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))


# --------------------------------------------------------------------------- public server


class GroqServer:
    """A Groq-compatible HTTP server on 127.0.0.1 running in a background thread."""

    def __init__(
        self,
        behaviors: dict[str, Behavior] | None = None,
        default: Behavior | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        flavor: str = "groq",
        limits: Limiter | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if flavor not in ("groq", "openai"):
            raise ValueError(f"flavor must be 'groq' or 'openai', not {flavor!r}")
        self.flavor = flavor
        self.limiter = limits
        self.tls = tls
        """Serve HTTPS with this context (its certificate loaded); None: plain HTTP."""
        """Emulated rate limits and prompt cache (see :mod:`groq_limits`); None: no limits."""
        prefix = OPENAI_PREFIX if flavor == "openai" else CHAT_PATH.removesuffix("/chat/completions")
        self.chat_path, self.models_path = f"{prefix}/chat/completions", f"{prefix}/models"
        self.batch_api = BatchApi(prefix)
        behaviors = dict(behaviors or {})
        if default is None:
            default = behaviors.pop("*", None)
        else:
            behaviors.pop("*", None)
        self._behaviors: dict[str, Behavior] = behaviors
        self.default: Behavior = default or Behavior()
        self._host = host
        self._port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._fail_counts: dict[str, int] = {}
        self._arrivals = 0  # requests whose behaviour has interrupt_on_next, counted as they come
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._httpd: _HTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self.base_url: str = ""

    # -- configuration ----------------------------------------------------------

    def set(self, model: str, behavior: Behavior) -> None:
        """Set (or replace) the behaviour of ``model``; "*" sets the default. Resets its fail count."""
        with self._lock:
            if model == "*":
                self.default = behavior
                self._fail_counts.clear()
            else:
                self._behaviors[model] = behavior
                self._fail_counts.pop(model, None)

    def reset(self) -> None:
        """Forget every behaviour, fail count and recorded request: for a server shared by tests."""
        with self._lock:
            self._behaviors.clear()
            self.default = Behavior()
            self._fail_counts.clear()
            self.requests.clear()

    def model_ids(self) -> list[str]:
        with self._lock:
            return list(self._behaviors)

    def _resolve(self, model: str) -> tuple[Behavior, bool]:
        """The behaviour for ``model`` and whether this request must fail with behavior.status."""
        with self._lock:
            behavior = self._behaviors.get(model, self.default)
            if behavior.status == 200:
                return behavior, False
            if behavior.fail_times <= 0:
                return behavior, True
            count = self._fail_counts.get(model, 0)
            if count < behavior.fail_times:
                self._fail_counts[model] = count + 1
                return behavior, True
            return behavior, False

    def _arrive(self) -> int:
        """Count one more request that interrupts streams still running; returns its number."""
        with self._lock:
            self._arrivals += 1
            return self._arrivals

    # -- recording --------------------------------------------------------------

    def _record(self, record: RecordedRequest) -> None:
        with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` chat requests arrived; return a copy of all of them.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {n} requests within {timeout}s, got {len(self.requests)}")
                self._arrived.wait(remaining)
            return list(self.requests)

    # -- connection/thread tracking (for a prompt, clean stop) -------------------

    def _track_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)

    # -- lifecycle --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    def start(self) -> GroqServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        scheme = "http" if self.tls is None else "https"
        self.base_url = f"{scheme}://{self._host}:{httpd.server_address[1]}"
        self.batch_api.base_url = self.base_url
        self._serve_thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="groq-fake-server", daemon=True
        )
        self._serve_thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving; wakes hanging/sleeping handlers and closes open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for conn in connections:  # unblocks keep-alive handlers waiting for the next request
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd = None
        self._serve_thread = None

    def __enter__(self) -> GroqServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"GroqServer({self.base_url or 'not started'}, models={self.model_ids()})"


# --------------------------------------------------------------------------- standalone


_BEHAVIOR_FIELDS = {f.name for f in dataclasses.fields(Behavior)}


def behavior_from_dict(data: dict[str, Any]) -> Behavior:
    unknown = set(data) - _BEHAVIOR_FIELDS
    if unknown:
        raise ValueError(f"unknown Behavior fields: {sorted(unknown)}")
    return Behavior(**data)


def load_profile(path: str) -> tuple[dict[str, Behavior], Behavior | None]:
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    if not isinstance(raw, dict):
        raise ValueError("profile must be a JSON object mapping model ids to behaviours")
    behaviors = {model: behavior_from_dict(spec or {}) for model, spec in raw.items()}
    return behaviors, behaviors.pop("*", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Groq chat-completions server.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--profile", help="JSON file: {model id | '*': {Behavior fields}}")
    parser.add_argument("--free-tier", action="store_true", help="emulate Groq's free-tier limits and prompt cache")
    parser.add_argument("--minute", type=float, default=60.0, help="seconds in a rate-limit minute (with --free-tier)")
    args = parser.parse_args(argv)

    behaviors, default = load_profile(args.profile) if args.profile else ({}, None)
    limits = Limiter({**FREE_TIER, "*": TierLimits()}, minute=args.minute) if args.free_tier else None
    server = GroqServer(behaviors, default, port=args.port, limits=limits)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"READY {server.base_url}", flush=True)
    try:
        while not stop.wait(3600):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
