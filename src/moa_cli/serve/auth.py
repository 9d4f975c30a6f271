"""Who may use the server: loopback binds are open, any other needs a bearer token."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from moa_cli.serve.errors import ApiError


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name that is not these is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str | None, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Raise 401 unless ``token`` is None or the request carries ``Authorization: Bearer <token>``."""
    if token is None:
        return
    given = b""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, given = value.strip().partition(b" ")
            if scheme.lower() != b"bearer":
                given = b""
            break
    if not hmac.compare_digest(given.strip(), token.encode()):
        raise ApiError(401, "a valid bearer token is required (Authorization: Bearer ...)", code="invalid_api_key")
