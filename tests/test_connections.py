"""Connections are kept for the next request, however many references run at once, and across
the pause between two turns of a chat (``providers.sdk.CONNECTION_LIMITS``).

httpcore 1.0.9 closed every connection that fell idle while its pool held more than the
keep-alive limit (the SDKs' 20) in all: past 20 references, each later request paid a new
connection, a TLS handshake on a real service. And httpx drops an idle connection after 5 s.
"""

from __future__ import annotations

import time

from conftest import run_moa
from groq_server import Behavior, GroqServer
from test_chat_repl import leave, say, spawn_chat

REFERENCES = [f"ref/{i}" for i in range(1, 25)]  # more than the 20 the SDKs keep alive
IDLE = 5.5
"""Longer than httpx's 5 s keep-alive, which moa's clients no longer use."""


def test_the_second_layer_and_the_aggregator_ride_on_the_first_layers_connections(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    groq_server.set("*", Behavior(first_token_delay=0.2))  # every connection open when the first ends
    args = ["ask", *[a for model in REFERENCES for a in ("-m", model)], "-a", "agg/x", "--layers", "2", "why?"]
    proc = run_moa(args, moa_env)
    assert proc.returncode == 0, proc.stderr
    references = [r for r in groq_server.requests if r.model != "agg/x"]
    (aggregator,) = [r for r in groq_server.requests if r.model == "agg/x"]
    first, second = references[: len(REFERENCES)], references[len(REFERENCES) :]
    assert len({r.connection for r in first}) == len(second) == len(REFERENCES)
    # Each rides on a connection the first layer opened: the SDKs' pool kept 20 and opened 4 new ones
    # (a second-layer request may take another's connection once that one has finished: a subset).
    assert {r.connection for r in second} | {aggregator.connection} <= {r.connection for r in first}


def test_a_chat_turn_after_a_pause_is_sent_on_the_last_turns_connections(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    child = spawn_chat(["-m", "ref/a", "-m", "ref/b", "-a", "agg/x"], moa_env)
    say(child, "What is the capital of France?")
    time.sleep(IDLE)  # the user reading the answer and typing the next question
    say(child, "And its population?")
    leave(child)
    first, second = groq_server.requests[:3], groq_server.requests[3:]
    assert len(second) == 3
    assert {r.connection for r in second} <= {r.connection for r in first}
