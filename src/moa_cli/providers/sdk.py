"""What the Groq and OpenAI-compatible providers share: both post through the groq SDK's client
(Stainless-generated, as the openai SDK's is), so requests, retries and error messages live here.

Request bodies are ours: each message is encoded to JSON once (:attr:`Message.json`), and every
request of a turn joins the same encoded messages, with its own model, temperature and limits
(:meth:`SdkProvider.request_body`). The SDK's ``chat.completions.create`` would walk every message
of every request through its type transforms: about 90 us each, 35 ms for a long conversation,
per model. The body goes out through the SDK's own client (``client.post``): its auth, base URL,
headers, timeouts and typed errors (``APIStatusError`` and the rest) are the SDK's.

Retries are ours, not the SDK's (clients are built with ``max_retries=0``): we honour
``Retry-After`` up to ``RetryPolicy.max_wait`` and report a longer wait (a daily limit) at once
instead of retrying, and we tell the UI when we wait. A call is only retried before any text has
streamed, so an answer is never duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from moa_cli.errors import ProviderError
from moa_cli.log import HTTP_HOOKS, verbose
from moa_cli.providers import network_backend
from moa_cli.providers.base import ChatCall, Chunk, Delta, Finish, Queued, Retrying, Sent
from moa_cli.providers.connection import describe as describe_connection
from moa_cli.providers.slots import Slots
from moa_cli.providers.sse import gathered, sse_batches
from moa_cli.providers.wire import error_details, format_wait, parse_retry_after, usage_of
from moa_cli.request import json_bytes

CONNECTION_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=120.0)
"""The SDKs' 100 connections at once, every one kept alive for the next request, for two minutes.

- All of them: with the SDKs' 20, httpcore (1.0.9) closes each connection that falls idle while the
  pool holds more than 20 in all, idle or not (encode/httpcore#1000), so past 20 references the
  aggregator's request and every request of a later layer opened a new connection.
- Two minutes, not httpx's 5 s: the next turn of a chat comes when its user has typed it, and a new
  connection to a real service costs a TCP and a TLS handshake per model. Cloudflare, in front of
  Groq, keeps an idle connection 400 s; a local server that closed one sooner is seen to have closed
  it before it is used again (httpcore checks), and a close that races a request is retried.
"""

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RESTARTS = 3
"""How often one call is asked again after a server cut it off while serving others."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before retrying a failed request."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        return min(self.base_delay * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def http_client(sdk: ModuleType) -> Any:
    """An HTTP client for ``sdk``'s API client: the SDK's defaults, :data:`CONNECTION_LIMITS`,
    connections on asyncio's own transports (:mod:`~moa_cli.providers.network_backend`), and every
    request and response logged under ``-v``."""
    client = sdk.DefaultAsyncHttpxClient(limits=CONNECTION_LIMITS, event_hooks=HTTP_HOOKS if verbose() else None)
    return network_backend.install(client)


def client_timeout(sdk: ModuleType, timeout: float) -> Any:
    """The per-request timeout in ``sdk``'s own type: ``timeout`` to read, at most 10 s to connect."""
    return sdk.Timeout(timeout, connect=min(10.0, timeout))


class SdkProvider:
    """Streams chat completions through an async Stainless SDK client (``AsyncGroq``, ``AsyncOpenAI``).

    ``label`` names the service in messages ("Groq"), ``where`` its address; ``key_env`` is the
    environment variable its key comes from. At most ``max_concurrency`` calls stream at once;
    the others wait their turn (:class:`Queued`).
    """

    requests_period = 60.0
    """Seconds the ``x-ratelimit-*-requests`` headers span: a minute (OpenAI); Groq's is a day."""
    chat_path = "/chat/completions"
    """Where chat completions are posted, from the client's base URL (as the SDK's ``create`` does)."""

    def __init__(
        self,
        client: Any,
        sdk: ModuleType,
        *,
        label: str,
        key_env: str | None,
        where: str,
        retry: RetryPolicy = RetryPolicy(),
        max_tokens_field: str = "max_completion_tokens",
        max_concurrency: int | None = None,
        local: bool = False,
    ) -> None:
        self._client = client
        self._sdk = sdk
        self.label = label
        self.key_env = key_env
        self.where = where
        self.retry = retry
        self.max_tokens_field = max_tokens_field
        self.slots = Slots(max_concurrency)
        self.local = local
        """A server of the user's own (no key): one that cuts answers off under load is asked again."""

    async def aclose(self) -> None:
        await self._client.close()

    async def list_models(self) -> list[str]:
        """The ids of the models the service serves now."""
        try:
            page = await self._model_list()
        except self._sdk.APIError as exc:
            raise self._listing_error(exc) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.label}: {type(exc).__name__}", kind="connection", model="") from None
        return sorted(model.id for model in page.data)

    async def _model_list(self) -> Any:
        """The service's model list, as the SDK reads it (``.data``, each with an ``id``)."""
        return await self._client.models.list()

    def _listing_error(self, exc: Exception) -> ProviderError:
        """Why the model list could not be had, in words about the list (not about a model)."""
        error = self.error(exc, "")
        if error.kind == "auth":
            return error
        if isinstance(exc, self._sdk.APIStatusError):
            message, _ = error_details(exc.body, exc.response.text)
            text = f"{self.label} at {self.where} did not list its models ({exc.status_code}: {message})"
        else:
            text = str(error).removeprefix(": ")
        return ProviderError(text, kind=error.kind, model="", status=error.status)

    async def stream(self, call: ChatCall) -> AsyncIterator[Chunk]:
        """Stream ``call`` when a slot is free, retrying what may be retried; ends with :class:`Finish`."""
        attempt = restarts = 0
        while True:
            queued = self.slots.must_wait()
            if queued:
                yield Queued(True)
            await self.slots.acquire()
            released = False
            retry: Retrying | None = None
            try:
                if queued:
                    yield Queued(False)
                seen = _Seen()
                try:
                    async for chunk in self._stream_once(call, seen):
                        if seen.finished and not released:  # the answer is whole: its slot is free
                            released = True
                            self.slots.release()
                        yield chunk
                except ProviderError as error:
                    if error.kind == "connection" and seen.opened and self._crowded(restarts):
                        retry, restarts = self._restart(call.model, seen), restarts + 1
                    elif seen.chunks or (wait := self._retry_wait(error, attempt)) is None:
                        raise
                    else:
                        retry = Retrying(wait, error.args[0])
                        attempt += 1
                else:
                    if seen.finished:  # said at [DONE], before the response was closed
                        return
                    if seen.finish_reason is None and self._crowded(restarts):
                        retry, restarts = self._restart(call.model, seen), restarts + 1
                    else:
                        yield Finish(seen.finish_reason)
                        return
            finally:
                if not released:
                    self.slots.release()
            yield retry
            await asyncio.sleep(retry.wait)

    def _crowded(self, restarts: int) -> bool:
        """Whether a local server that cut an answer off was serving others too: then ask again."""
        return self.local and self.slots.busy > 1 and restarts < MAX_RESTARTS

    def _restart(self, model: str, seen: _Seen) -> Retrying:
        """A server cut this answer off while serving others: from now on send it one at a time."""
        if self.slots.limit == 1:
            reason = f"{model}: {self.label} cut the answer off; asking again"
        else:
            self.slots.limit = 1
            reason = (
                f"{model}: {self.label} cut the answer off while serving {self.slots.busy} requests at once; "
                "asking again, one request at a time"
            )
        return Retrying(0.0, reason, restart=seen.chunks > 0)

    def _retry_wait(self, error: ProviderError, attempt: int) -> float | None:
        """Seconds to wait before retrying ``error``, or None when it must not be retried."""
        if attempt >= self.retry.max_retries:
            return None
        retryable = error.kind in ("connection", "server") or error.status in RETRYABLE_STATUS
        if not retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.retry.max_wait else None
        return self.retry.backoff(attempt)

    def request_body(self, call: ChatCall) -> bytes:
        """The JSON body of ``call``'s request: the messages' encodings joined, then its own fields.

        The same fields ``chat.completions.create`` sends for the same arguments, encoded as the
        SDK encodes them; only the messages are never encoded again.
        """
        fields = {"model": call.model, "stream": True, "temperature": call.temperature, **self._request_options(call)}
        return b'{"messages":[' + b",".join([m.json for m in call.messages]) + b"]," + json_bytes(fields)[1:]

    def _request_options(self, call: ChatCall) -> dict[str, Any]:
        """The request's fields besides messages, model, stream and temperature; providers add their own."""
        options: dict[str, Any] = {self.max_tokens_field: call.max_tokens}
        if call.seed is not None:
            options["seed"] = call.seed
        if call.reasoning_effort is not None:
            options["reasoning_effort"] = call.reasoning_effort
        return options

    def _chunks(self, model: str, chunk: dict[str, Any]) -> Iterable[Chunk]:
        """What one streamed chunk (parsed JSON) carries: answer and reasoning deltas, and usage."""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if reasoning := delta.get("reasoning") or delta.get("reasoning_content"):
                yield Delta("reasoning", reasoning)
            if content := delta.get("content"):
                yield Delta("text", content)
        if usage := chunk.get("usage"):
            yield usage_of(usage)

    def _batch_chunks(self, model: str, batch: list[tuple[str | None, bytes]], seen: _Seen) -> Iterable[Chunk]:
        """Every chunk in one read's events; an error event raises."""
        for event, data in batch:
            seen.events += 1
            if data == b"[DONE]":
                seen.done = True
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ProviderError(f"{model}: {self.label} sent a malformed chunk", kind="stream", model=model) from None
            if not isinstance(chunk, dict):
                continue
            if event == "error" or chunk.get("error"):
                raise self._stream_error(model, chunk.get("error"))
            if choices := chunk.get("choices"):
                seen.with_choices += 1
                for choice in choices:
                    if isinstance(choice, dict) and (reason := choice.get("finish_reason")):
                        seen.finish_reason = str(reason)
            yield from self._chunks(model, chunk)

    def _stream_error(self, model: str, error: object) -> ProviderError:
        """An error the service reported inside a stream that began with HTTP 200."""
        message = error.get("message") if isinstance(error, Mapping) else error
        text = message if isinstance(message, str) and message else "error inside the stream"
        return ProviderError(f"{model}: {self.label} stopped the answer: {text}", kind="stream", model=model)

    async def _stream_once(self, call: ChatCall, seen: _Seen) -> AsyncIterator[Chunk]:
        model = call.model
        try:
            # The SDK's documented call for a raw response: the body unread (stream=True), ours to close.
            response = await self._client.post(
                self.chat_path,
                cast_to=httpx.Response,
                content=self.request_body(call),
                stream=True,
            )
            try:
                seen.opened = True
                if call.on_headers is not None:
                    call.on_headers(response.headers, self.requests_period)
                yield Sent()
                body = response.aiter_bytes()
                if call.pace is not None:
                    body = gathered(body, call.pace)
                batches = sse_batches(body, seen.stray)
                async for batch in batches:
                    for item in merge_deltas(self._batch_chunks(model, batch, seen)):
                        seen.chunks += 1
                        yield item
                    if seen.done and seen.with_choices and seen.finish_reason is not None:
                        seen.finished = True
                        break
                    if seen.done and call.pace is not None:  # its end is said once the body has ended
                        call.pace.let_close()
                if seen.finished:
                    # The answer is whole: its end is said now, and only then is the body read to
                    # its end, so that its connection goes back to the pool for the next request.
                    yield Finish(seen.finish_reason)
                    with contextlib.suppress(httpx.HTTPError):
                        async for _ in batches:
                            pass
            finally:
                await response.aclose()
        except self._sdk.APIError as exc:
            if call.on_headers is not None and isinstance(exc, self._sdk.APIStatusError):
                call.on_headers(exc.response.headers, self.requests_period)
            raise self.error(exc, model) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{model}: the connection dropped mid-answer ({type(exc).__name__})", kind="connection", model=model
            ) from None
        if not seen.events:
            problem = f"answered with {seen.body()}, not an event stream"
        elif not seen.with_choices:
            problem = f"sent {seen.events - seen.done} chunks and none had choices: no answer"
        else:
            return
        raise ProviderError(f"{model}: {self.label} {problem}", kind="stream", model=model)

    def error(self, exc: Exception, model: str) -> ProviderError:
        """Turn an SDK exception into a one-line :class:`ProviderError` naming the model."""
        sdk, label = self._sdk, self.label
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError(f"{model}: timed out waiting for {label}", kind="timeout", model=model)
        if isinstance(exc, sdk.APIConnectionError):
            text, kind = describe_connection(exc, self.where)
            return ProviderError(f"{model}: {text}", kind=kind, model=model)
        if not isinstance(exc, sdk.APIStatusError):
            message = getattr(exc, "message", None) or "error inside the stream"
            return ProviderError(f"{model}: {label} stopped the answer: {message}", kind="stream", model=model)

        status = exc.status_code
        message, code = error_details(exc.body, exc.response.text)
        retry_after = parse_retry_after(exc.response.headers)
        if status in (401, 403):
            kind = "auth"
            text = f"{label} rejected the API key ({status}: {message})"
            if self.key_env:
                text += f"; check {self.key_env}"
        elif status == 404 or code in ("model_not_found", "model_decommissioned"):
            kind, text = "model_not_found", f"model '{model}' is not available on {label} ({message})"
        elif status == 413:
            kind, text = "too_large", f"request too large for {model}'s limit ({message})"
        elif status == 429:
            kind = "rate_limited"
            text = f"rate limit reached for {model} ({message})"
            if retry_after is not None:
                text += f"; {label} asks to wait {format_wait(retry_after)}"
        elif status >= 500:
            kind, text = "server", f"{model}: {label} server error {status} ({message})"
        else:
            kind, text = "bad_request", f"{model}: request refused ({status}: {message})"
        return ProviderError(text, kind=kind, model=model, status=status, retry_after=retry_after)


@dataclass(slots=True)
class _Seen:
    """What one stream has shown so far, to judge how it ended."""

    opened: bool = False
    """The server answered 200 and the body is being read."""
    chunks: int = 0
    """Chunks passed on (text, reasoning, usage)."""
    events: int = 0
    with_choices: int = 0
    done: bool = False
    """``[DONE]`` arrived."""
    finished: bool = False
    """:class:`Finish` was yielded at ``[DONE]``; what followed was only the body's end."""
    finish_reason: str | None = None
    stray: list[bytes] = field(default_factory=list)
    """The first lines of the body that were not server-sent events."""

    def body(self) -> str:
        """What came instead of an event stream, as the user may recognise it."""
        if not self.stray:
            return "an empty body"
        text = " ".join(b" ".join(self.stray).decode("utf-8", "replace").split())
        return repr(text[:80] + ("..." if len(text) > 80 else ""))


def merge_deltas(chunks: Iterable[Chunk]) -> Iterable[Chunk]:
    """``chunks`` with each run of same-kind deltas joined into one: fewer events downstream."""
    kind: str | None = None
    texts: list[str] = []
    pieces = 0
    try:
        for chunk in chunks:
            if isinstance(chunk, Delta) and chunk.kind == kind:
                texts.append(chunk.text)
                pieces += chunk.pieces
                continue
            if texts:
                yield Delta(kind, "".join(texts), pieces)  # type: ignore[arg-type]
            if isinstance(chunk, Delta):
                kind, texts, pieces = chunk.kind, [chunk.text], chunk.pieces
            else:
                kind, texts, pieces = None, [], 0
                yield chunk
    except ProviderError:
        if texts:  # what arrived before the error is still the answer's
            yield Delta(kind, "".join(texts), pieces)  # type: ignore[arg-type]
        raise
    if texts:
        yield Delta(kind, "".join(texts), pieces)  # type: ignore[arg-type]
