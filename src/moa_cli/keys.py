"""API keys for providers: the environment first, then what ``moa keys set`` stored.

``moa keys set`` uses the system keyring when the ``keyring`` package is installed and has a
working backend, else a JSON file readable by the owner only; a file or directory that another
user owns or others can write is refused. Keys are never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from moa_cli.errors import MoaError, UsageError
from moa_cli.log import LOGGER
from moa_cli.paths import check_private, private_dir
from moa_cli.providers.registry import ProviderConfig
from moa_cli.redact import remember, remember_url

SERVICE = "moa-cli"


def _keyring():  # type: ignore[no-untyped-def]
    """The keyring module if it is installed and has a usable backend, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring


class CorruptKeysError(MoaError):
    """Raised when the key file is not the JSON object ``moa keys set`` writes."""


class KeyStore:
    """Stored keys, by provider name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self) -> dict[str, str]:
        check_private(self.path.parent)
        check_private(self.path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise MoaError(f"cannot read stored keys {self.path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise CorruptKeysError(
                f"stored keys {self.path} are not valid JSON ({exc}); replace them with: moa keys set PROVIDER"
            ) from None
        if not isinstance(data, dict):
            raise CorruptKeysError(
                f"stored keys {self.path} are not a JSON object; replace them with: moa keys set PROVIDER"
            )
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def get(self, provider: str) -> tuple[str | None, str]:
        """The stored key for ``provider`` and where it came from."""
        ring = _keyring()
        if ring is not None:
            try:
                if key := ring.get_password(SERVICE, provider):
                    return key, "keyring"
            except Exception as exc:  # a locked keyring, no D-Bus...: the file may still have it
                LOGGER.debug("keyring unavailable: %s", exc)
        key = self._file().get(provider)
        return key, (str(self.path) if key else "")

    def set(self, provider: str, key: str) -> str:
        """Store ``key`` for ``provider``; returns where it went."""
        ring = _keyring()
        if ring is not None:
            try:
                ring.set_password(SERVICE, provider, key)
                return "the system keyring"
            except Exception as exc:
                LOGGER.debug("keyring unavailable, using %s: %s", self.path, exc)
        where = str(self.path)
        try:
            keys = {**self._file(), provider: key}
        except CorruptKeysError:  # replaced, but kept aside: it may hold keys a person can recover
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            keys, where = {provider: key}, f"{self.path} (the unreadable file is kept as {aside})"
        self._save(keys)
        return where

    def remove(self, provider: str) -> list[str]:
        """Forget ``provider``'s stored key; returns where it was removed from (empty: it had none)."""
        removed = []
        ring = _keyring()
        if ring is not None:
            try:
                if ring.get_password(SERVICE, provider):
                    ring.delete_password(SERVICE, provider)
                    removed.append("the system keyring")
            except Exception as exc:  # a locked keyring: the file may still hold one
                LOGGER.debug("keyring unavailable: %s", exc)
        keys = self._file()
        if keys.pop(provider, None) is not None:
            removed.append(self._save(keys))
        return removed

    def _save(self, keys: dict[str, str]) -> str:
        """Write ``keys`` as the key file; returns its path."""
        private_dir(self.path.parent)
        # Written whole to a new 0600 file, then moved over the old one: never half-written,
        # never readable by others, even for a moment.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(keys, out, indent=2)
            os.replace(temporary, self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise MoaError(f"cannot store the key in {self.path}: {exc.strerror or exc}") from None
        return str(self.path)


def find_key(config: ProviderConfig, store: KeyStore, env: Mapping[str, str] = os.environ) -> tuple[str | None, str]:
    """``config``'s key and its source: the environment variable, the key store, or none.

    Surrounding whitespace (a pasted newline) is dropped; a key with other characters an HTTP
    header cannot carry raises :class:`UsageError` naming where it came from. The key and the
    credentials in the provider's URL are remembered, to be kept out of all output.
    """
    remember_url(config.base_url or env.get("GROQ_BASE_URL"))
    if config.key_env and (key := env.get(config.key_env, "").strip()):
        return _usable(key, config.key_env), f"${config.key_env}"
    key, where = store.get(config.name)
    if key and key.strip():
        return _usable(key.strip(), f"the key stored for {config.name} (in {where})"), where
    return None, "not needed" if config.key_env is None else "missing"


def _usable(key: str, named: str) -> str:
    """``key``, remembered as a secret, if an HTTP header can carry it."""
    remember(key)
    if key.isascii() and key.isprintable():
        return key
    raise UsageError(f"{named} holds characters no API key has (non-ASCII or control characters); set it again")

