"""The ASGI application: routes, the token check, request size limits, and a graceful stop."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from moa_cli.errors import UsageError
from moa_cli.serve.auth import check_token
from moa_cli.serve.completions import answer, send_json
from moa_cli.serve.errors import ApiError, bad_request, stopping, unknown_model
from moa_cli.serve.mixture import Mixtures, Turn
from moa_cli.serve.protocol import parse_chat_request

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""The largest request body accepted (413 above): far more than any model's context holds."""
CHAT_PATH: Final = "/v1/chat/completions"
MODELS_PATH: Final = "/v1/models"


class _HungUp(Exception):
    """The client went away before its request body arrived."""


class MoaApp:
    """``/v1/models`` and ``/v1/chat/completions`` over ``mixtures``; every request needs ``token`` if set."""

    def __init__(self, mixtures: Mixtures, token: str | None = None, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.mixtures = mixtures
        self.token = token
        self.max_body = max_body
        self.created = int(time.time())
        self.turns: set[Turn] = set()
        self.draining = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            check_token(self.token, scope["headers"])
            await self._route(scope, receive, send)
        except ApiError as error:
            await send_json(send, error.status, error.body(), error.headers())
        except _HungUp:
            pass

    def drain(self, grace: float) -> None:
        """Take no new turns; stop those still running after ``grace`` seconds (their streams end
        with an error event and ``[DONE]``)."""
        self.draining = True
        asyncio.get_running_loop().call_later(grace, self.stop_all)

    def stop_all(self) -> None:
        for turn in list(self.turns):
            turn.stop()

    async def _route(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method, path = scope["method"], scope["path"].rstrip("/")
        if path == CHAT_PATH:
            _allow(method, "POST")
            await self._chat(scope, receive, send)
        elif path == MODELS_PATH:
            _allow(method, "GET")
            await send_json(send, 200, {"object": "list", "data": [self._model(i) for i in self.mixtures.ids()]})
        elif path.startswith(MODELS_PATH + "/"):
            _allow(method, "GET")
            model = path.removeprefix(MODELS_PATH + "/")
            if model not in self.mixtures.ids():
                raise unknown_model(model, self.mixtures.ids())
            await send_json(send, 200, self._model(model))
        else:
            raise ApiError(404, f"no such endpoint: {method} {scope['path']}", code="unknown_url")

    def _model(self, model_id: str) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "moa",
            "moa": self.mixtures.describe(model_id),
        }

    async def _chat(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        chat = parse_chat_request(await self._body(scope, receive))
        if self.draining:
            raise stopping()
        try:
            turn = self.mixtures.start(chat)
        except KeyError:
            raise unknown_model(chat.model, self.mixtures.ids()) from None
        except UsageError as exc:  # a value the settings refuse, a question too long for the models
            raise bad_request(str(exc)) from None
        self.turns.add(turn)
        try:
            await answer(chat, turn, receive, send)
        finally:
            self.turns.discard(turn)

    async def _body(self, scope: dict[str, Any], receive: Any) -> bytes:
        """The request body, refused (413) beyond ``max_body`` bytes before it is all read if possible."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                raise _too_large(self.max_body)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HungUp
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise _too_large(self.max_body)
            if not message.get("more_body"):
                return bytes(body)


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise ApiError(405, f"use {allowed} here, not {method}", code="method_not_allowed")


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit:,} bytes", code="request_too_large")
