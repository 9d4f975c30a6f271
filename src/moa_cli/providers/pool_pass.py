"""httpcore 1.0.9's connection pool pass, with its one quadratic line made linear.

``AsyncConnectionPool._assign_requests_to_connections`` runs on every request and at every
response's end. For each idle connection it asks whether the pool holds more connections than its
keep-alive limit, and counts them by building a list of every connection's ``is_idle()`` (a list of
booleans, so its length is simply the number of connections: encode/httpcore#1000). That is O(N²)
per pass: when 64 requests went out at once on 64 kept connections (a second layer, a chat's next
turn), the pool made 1.95 M ``is_idle`` calls and the last request left 1.1 s after the first.

:func:`speed_up` gives a pool the same pass with that count taken as ``len(connections)``, and the
first matching connection found without listing them all; every decision is the one httpcore
makes (``tests/test_pool_pass.py`` compares them). Only for httpcore 1.0.9, whose pass this is:
the upstream fix (encode/httpcore#1035) is open, and a later httpcore keeps its own pass.
"""

from __future__ import annotations

from types import MethodType
from typing import Any

import httpcore

FOR_VERSION = "1.0.9"


def speed_up(pool: Any) -> bool:
    """Give ``pool`` (an httpcore 1.0.9 async pool, proxies' too) the linear pass; whether it took."""
    if httpcore.__version__ != FOR_VERSION or not isinstance(pool, httpcore.AsyncConnectionPool):
        return False
    pool._assign_requests_to_connections = MethodType(assign_requests_to_connections, pool)  # type: ignore[method-assign]
    return True


def assign_requests_to_connections(pool: Any) -> list[Any]:
    """httpcore 1.0.9's pass: drop closed connections, close expired and surplus idle ones, then give
    each queued request a connection (one that can take it, a new one, or a new one in place of an
    idle one). Returns the connections to close, as httpcore's does; its lock is held by the caller."""
    connections = pool._connections
    closing = []
    for connection in list(connections):
        if connection.is_closed():
            connections.remove(connection)
        elif connection.has_expired() or (
            connection.is_idle() and len(connections) > pool._max_keepalive_connections
        ):
            connections.remove(connection)
            closing.append(connection)

    for request in [request for request in pool._requests if request.is_queued()]:
        origin = request.request.url.origin
        available = next((c for c in connections if c.can_handle_request(origin) and c.is_available()), None)
        if available is not None:
            request.assign_to_connection(available)
            continue
        if len(connections) >= pool._max_connections:
            idle = next((c for c in connections if c.is_idle()), None)
            if idle is None:
                continue  # it waits for a connection to end
            connections.remove(idle)
            closing.append(idle)
        connection = pool.create_connection(origin)
        connections.append(connection)
        request.assign_to_connection(connection)
    return closing
