"""Reads a chat-completions request body into what a Mixture-of-Agents turn needs.

The conversation follows ``moa chat``: system messages are the system prompt, the last message is
the question (it must be the user's), and the turns before it are the history every model sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from moa_cli.request import Message
from moa_cli.serve.errors import bad_request

MAX_MESSAGES: Final = 1000
"""The most messages one request may carry."""

_ROLES: Final = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
"""Roles accepted, and what each is to the models (OpenAI's newer ``developer`` is a system prompt)."""


@dataclass(frozen=True, slots=True)
class Conversation:
    """The system prompt, the earlier turns, and the question they lead to."""

    system: str | None
    history: tuple[Message, ...]
    question: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One ``POST /v1/chat/completions``, checked."""

    model: str
    conversation: Conversation
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The request in ``raw``, or :class:`~moa_cli.serve.errors.ApiError` 400 saying what is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: a model id from GET /v1/models", "model")
    if body.get("n") not in (None, 1):
        raise bad_request("only n=1 is supported", "n")
    stream = _optional(body, "stream", bool) or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    include_usage = bool(options and options.get("include_usage"))
    temperature = _optional(body, "temperature", (int, float))
    if temperature is not None and not 0 <= temperature <= 2:
        raise bad_request(f"'temperature' must be between 0 and 2, not {temperature}", "temperature")
    limit = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _optional(body, limit, int)
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"'{limit}' must be at least 1, not {max_tokens}", limit)
    return ChatRequest(
        model=model,
        conversation=parse_messages(body.get("messages")),
        temperature=None if temperature is None else float(temperature),
        max_tokens=max_tokens,
        stream=stream,
        include_usage=stream and include_usage,
    )


def parse_messages(messages: object) -> Conversation:
    """``messages`` as a conversation: system prompt, history, and the last user message."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of messages", "messages")
    if len(messages) > MAX_MESSAGES:
        raise bad_request(f"at most {MAX_MESSAGES} messages per request, not {len(messages)}", "messages")
    system: list[str] = []
    turns: list[Message] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object", where)
        role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise bad_request(
                f"{where}.role must be system, developer, user or assistant, not {message.get('role')!r}",
                f"{where}.role",
            )
        text = _text(message.get("content"), f"{where}.content")
        if role == "system":
            system.append(text)
        else:
            turns.append(Message(role, text))  # type: ignore[arg-type]
    if not turns or turns[-1].role != "user":
        raise bad_request("the last message must be the user's: it is the question", "messages")
    return Conversation("\n\n".join(system) if system else None, tuple(turns[:-1]), turns[-1].content)


def _text(content: object, where: str) -> str:
    """A message's text: a string, or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"{where}: only text content parts are supported", where)
            parts.append(part["text"])
        return "".join(parts)
    raise bad_request(f"{where} must be a string or an array of text parts", where)


def _optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``body[key]`` if present and not null, checked to be of ``kind`` (a bool is not a number)."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise bad_request(f"'{key}' has the wrong type: {json.dumps(value)[:40]}", key)
    return value
