"""Which stored session a client's conversation continues.

Clients of an OpenAI endpoint send the whole conversation each time; there is no session id. A
request whose earlier messages are a conversation this server answered (its questions, and its
answers as sent) continues that session; anything else starts a new one. Conversations answered
since start-up are found by fingerprint; older ones (before a restart) among the recent sessions.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from moa_cli.request import Message

if TYPE_CHECKING:
    from moa_cli.serve.protocol import Conversation
    from moa_cli.store import Store

REMEMBERED: Final = 10_000
"""Conversations kept in memory, most recent first; older ones are looked up in the store."""
RECENT_SESSIONS: Final = 20
"""How many of the most recently updated sessions are compared with a conversation not in memory."""


def fingerprint(system: str | None, messages: Sequence[Message]) -> str:
    """A digest of a conversation; whitespace around each message does not count (clients trim)."""
    canonical = [system.strip() if system else None, *((m.role, m.content.strip()) for m in messages)]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


class SessionIndex:
    """Maps conversations to the sessions they were stored in. Safe to use from several threads."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._known: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, store: Store, conversation: Conversation) -> str | None:
        """The id of the session ``conversation``'s history belongs to, or None for a new one."""
        if not conversation.history:
            return None
        with self._lock:
            found = self._known.get(fingerprint(conversation.system, conversation.history))
        if found is not None and store.find_session(found) is not None:  # not removed since
            return found
        wanted = [(m.role, m.content.strip()) for m in conversation.history]
        for session in store.list_sessions(limit=RECENT_SESSIONS):
            if [(m.role, m.content.strip()) for m in store.history(session.id)] == wanted:
                return session.id
        return None

    def remember(self, conversation: Conversation, answer: str, session_id: str) -> None:
        """After ``answer``: the conversation with it is ``session_id``'s, if a client goes on with it."""
        history = (*conversation.history, Message("user", conversation.question), Message("assistant", answer))
        key = fingerprint(conversation.system, history)
        with self._lock:
            self._known[key] = session_id
            self._known.move_to_end(key)
            while len(self._known) > self.size:
                self._known.popitem(last=False)
