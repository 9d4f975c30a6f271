"""The one exception hierarchy of moa-cli.

Callers catch :class:`MoaError`; the CLI maps each class to a one-line message and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code moa ends with; README.md's table says what each means."""

    OK = 0
    FAILED = 1  # no answer: every reference failed, or the aggregator did
    USAGE = 2  # bad input: no question, bad flag or config, missing key
    HANGUP = 129  # SIGHUP: the terminal went away
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


class MoaError(Exception):
    """Base class of every error moa-cli reports to the user."""

    exit_code: int = ExitCode.FAILED


class UsageError(MoaError):
    """Raised when the command line or the input is unusable (no question, bad flag value)."""

    exit_code = ExitCode.USAGE


class ConfigError(MoaError):
    """Raised when the config file is malformed, has an unknown key or a value of the wrong type."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class MissingApiKeyError(MoaError):
    """Raised before any request when a provider needs a key and none is set."""

    exit_code = ExitCode.USAGE


class ProviderError(MoaError):
    """Raised when a model call fails; ``kind`` says why, in words the CLI can act on.

    Kinds: ``auth``, ``model_not_found``, ``too_large``, ``rate_limited``, ``timeout``,
    ``connection``, ``stream``, ``server``, ``bad_request``.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        model: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.model = model
        self.status = status
        self.retry_after = retry_after


class StoreError(MoaError):
    """Raised when the session database cannot be opened, read or written; the file is left as it was."""
