"""``providers.pool_pass``: httpcore 1.0.9's pool pass, linear, deciding exactly as httpcore does.

Each trial builds two identical pools of stand-in connections and requests in random states
(closed, expired, idle, busy, other origins; full pools, keep-alive limits below and above the
count) and runs httpcore's own pass on one and moa's on the other: the same connections must be
closed, kept in the same order, created, and given to the same requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import SimpleNamespace

import httpcore
import pytest

from moa_cli.providers import pool_pass
from moa_cli.providers.sdk import http_client


@dataclass(eq=False)
class Connection:
    id: int
    origin: str
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: str) -> bool:
        return origin == self.origin


@dataclass(eq=False)
class Request:
    origin: str
    connection: Connection | None = None

    @property
    def request(self) -> SimpleNamespace:
        return SimpleNamespace(url=SimpleNamespace(origin=self.origin))

    def is_queued(self) -> bool:
        return self.connection is None

    def assign_to_connection(self, connection: Connection) -> None:
        self.connection = connection


@dataclass
class Pool:
    _connections: list[Connection]
    _requests: list[Request]
    _max_connections: int
    _max_keepalive_connections: int
    created: list[int] = field(default_factory=list)

    def create_connection(self, origin: str) -> Connection:
        connection = Connection(100 + len(self.created), origin, available=True)
        self.created.append(connection.id)
        return connection


def random_pool(rng: random.Random) -> Pool:
    origins = ["a", "b"]
    connections = []
    for i in range(rng.randint(0, 8)):
        idle = rng.random() < 0.5
        connections.append(
            Connection(
                i,
                rng.choice(origins),
                closed=rng.random() < 0.15,
                expired=rng.random() < 0.15,
                idle=idle,
                available=idle and rng.random() < 0.8,
            )
        )
    requests = [Request(rng.choice(origins)) for _ in range(rng.randint(0, 6))]
    for request in requests:
        if connections and rng.random() < 0.3:
            request.connection = rng.choice(connections)
    return Pool(connections, requests, rng.randint(1, 9), rng.randint(0, 9))


def outcome(pool: Pool, closing: list[Connection]) -> tuple[object, ...]:
    return (
        [c.id for c in closing],
        [c.id for c in pool._connections],
        pool.created,
        [None if r.connection is None else r.connection.id for r in pool._requests],
    )


@pytest.mark.skipif(httpcore.__version__ != pool_pass.FOR_VERSION, reason="the pass is httpcore 1.0.9's own")
def test_the_linear_pass_decides_as_httpcores_own_in_every_state() -> None:
    theirs = httpcore.AsyncConnectionPool._assign_requests_to_connections
    branches = set()
    for seed in range(3000):
        pool, twin = random_pool(random.Random(seed)), random_pool(random.Random(seed))
        queued = [r.is_queued() for r in pool._requests]
        expected = outcome(pool, theirs(pool))  # type: ignore[arg-type]
        assert outcome(twin, pool_pass.assign_requests_to_connections(twin)) == expected, f"seed {seed}"
        closed, created, assigned = expected[0], expected[2], expected[3]
        reused = any(q and a is not None and a < 100 for q, a in zip(queued, assigned))  # type: ignore[call-overload]
        branches.add((bool(closed), bool(created), reused))
    assert len(branches) == 8  # connections closed, created, reused: each with and without the others


def test_the_sdk_clients_pools_get_the_linear_pass_on_httpcore_1_0_9_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import groq

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # a proxy's pool too
    pools = [t._pool for t in (lambda c: [c._transport, *c._mounts.values()])(http_client(groq))]
    assert len(pools) == 2
    assert all(p._assign_requests_to_connections.__func__ is pool_pass.assign_requests_to_connections for p in pools)
    monkeypatch.setattr(httpcore, "__version__", "1.0.10")
    assert not pool_pass.speed_up(http_client(groq)._transport._pool)
