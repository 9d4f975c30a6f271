"""Connections are kept for the next request, however many references run at once.

httpcore 1.0.9 closed every connection that fell idle while its pool held more than the
keep-alive limit (the SDKs' 20) in all: past 20 references, each later request paid a new
connection, a TLS handshake on a real service. moa's clients keep all of them
(``providers.sdk.CONNECTION_LIMITS``).
"""

from __future__ import annotations

from conftest import run_moa
from groq_server import Behavior, GroqServer

REFERENCES = [f"ref/{i}" for i in range(1, 25)]  # more than the 20 the SDKs keep alive


def _ask(server: GroqServer, env: dict[str, str], *extra: str) -> None:
    """``moa ask`` with every reference's connection open when the first one ends."""
    server.set("*", Behavior(first_token_delay=0.3))
    args = ["ask", *[a for model in REFERENCES for a in ("-m", model)], "-a", "agg/x", *extra, "why is the sky blue"]
    proc = run_moa(args, env)
    assert proc.returncode == 0, proc.stderr


def test_the_aggregator_is_sent_on_a_connection_a_reference_used(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    _ask(groq_server, moa_env)
    references = {r.connection for r in groq_server.requests if r.model != "agg/x"}
    (aggregator,) = [r for r in groq_server.requests if r.model == "agg/x"]
    assert len(references) == len(REFERENCES)
    assert aggregator.connection in references


def test_a_second_layer_is_sent_on_the_first_layers_connections(groq_server: GroqServer, moa_env: dict[str, str]) -> None:
    _ask(groq_server, moa_env, "--layers", "2")
    requests = [r for r in groq_server.requests if r.model != "agg/x"]
    first, second = requests[: len(REFERENCES)], requests[len(REFERENCES) :]
    assert len(second) == len(REFERENCES)
    assert {r.connection for r in second} == {r.connection for r in first}
