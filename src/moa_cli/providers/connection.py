"""Why a request never reached the service, in words that say what to fix.

The SDKs report every failure to connect as one ``APIConnectionError("Connection error.")``; the
cause is further down the exception chain. A refused or reset connection may heal and is retried
(kind ``connection``); a name that does not resolve, TLS spoken to a plain-HTTP server, an address
that is not http(s), or a request that cannot be sent as given will not heal, and is reported at
once (kind ``address``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

RETRYABLE, PERMANENT = "connection", "address"


def describe(exc: BaseException, where: str) -> tuple[str, str]:
    """A one-line reason the request to ``where`` failed, and its kind (``connection`` or ``address``)."""
    for cause in _chain(exc):
        name = type(cause).__name__
        if isinstance(cause, socket.gaierror):
            host = urlsplit(where).hostname or where
            if cause.errno == socket.EAI_AGAIN:
                return f"cannot look up {host} (temporary DNS failure)", RETRYABLE
            return f"cannot find the server {host} in DNS ({cause.strerror or cause}); check the address", PERMANENT
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the TLS certificate of {where} is not trusted ({cause.verify_message})", PERMANENT
        if isinstance(cause, ssl.SSLError):
            hint = "; is it an http:// address?" if "WRONG_VERSION_NUMBER" in str(cause) else ""
            return f"the TLS handshake with {where} failed ({cause.reason or cause}){hint}", PERMANENT
        if name == "UnsupportedProtocol":
            return f"{where} is not an http:// or https:// address", PERMANENT
        if name == "LocalProtocolError":
            return f"the request to {where} cannot be sent ({cause}); check its headers", PERMANENT
    return f"cannot connect to {where}", RETRYABLE


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
