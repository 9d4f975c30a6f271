"""API keys for providers: the environment first, then what ``moa keys set`` stored.

``moa keys set`` uses the system keyring when the ``keyring`` package is installed and has a
working backend, else a JSON file readable by the owner only. Keys are never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from moa_cli.errors import MoaError
from moa_cli.log import LOGGER
from moa_cli.providers.registry import ProviderConfig

SERVICE = "moa-cli"


def _keyring():  # type: ignore[no-untyped-def]
    """The keyring module if it is installed and has a usable backend, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring


class KeyStore:
    """Stored keys, by provider name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise MoaError(f"cannot read stored keys {self.path}: {exc}") from None
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

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
        return self._save({**self._file(), provider: key})

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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    """``config``'s key and its source: the environment variable, the key store, or none."""
    if config.key_env and (key := env.get(config.key_env)):
        return key, f"${config.key_env}"
    key, where = store.get(config.name)
    if key:
        return key, where
    return None, "not needed" if config.key_env is None else "missing"
