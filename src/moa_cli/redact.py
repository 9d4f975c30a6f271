"""Secrets out of everything moa shows or stores: the keys it knows and credentials in URLs.

A key reaches text in ways moa does not control (a server echoing it in an error body, an
exception quoting a URL), so rather than trusting each message, every key moa looks up
(:func:`remember`, called by ``keys.find_key``) is removed from text at the exits: what is drawn
(``ui.sanitize.strip_controls``, through which every message and error line passes), what is
printed as JSON and what the store writes. A URL moa itself shows goes through :func:`redact_url`.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit

REDACTED = "[redacted]"
SECRET_PARAMS = ("token", "key", "secret", "sig", "password", "passwd", "auth", "credential", "session")
"""A query parameter whose name contains any of these holds a credential (``api_key``, ``access_token``...)."""
SHORTEST = 4
"""Shorter strings are not remembered: removing them would mangle ordinary text."""

_known: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret holding another is removed whole


def remember(secret: str | None) -> None:
    """From now on, remove ``secret`` from every text moa shows or stores."""
    if secret and len(secret) >= SHORTEST and secret not in _known:
        _known.add(secret)
        _ordered[:] = sorted(_known, key=len, reverse=True)


def remember_url(url: str | None) -> None:
    """Remember the credentials ``url`` carries: its ``user:password@`` and secret query values."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed port or address: the whole userinfo is still a secret
        parts, password = urlsplit(url.split("?", 1)[0].split("#", 1)[0]), None
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        remember(userinfo)
        remember(password)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if _secret_param(unquote_plus(name)):
            remember(value)
            remember(unquote_plus(value))


def redact_url(url: str) -> str:
    """``url`` with its ``user:password@`` and secret query values replaced by ``[redacted]``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return scrub(url)
    authority_end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    path, question, query = tail.partition("?")
    if question:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            pairs.append(f"{name}={REDACTED}" if eq and value and _secret_param(name) else pair)
        tail = path + "?" + "&".join(pairs) + hash_ + fragment
    return scrub(f"{scheme}://{authority}{tail}")


def scrub(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[redacted]``."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _secret_param(name: str) -> bool:
    name = name.lower()
    return any(word in name for word in SECRET_PARAMS)
