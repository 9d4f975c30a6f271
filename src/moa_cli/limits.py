"""What moa knows of each model's rate limits, learned from response headers and kept between runs.

Groq announces ``x-ratelimit-{limit,remaining,reset}-requests`` (per day) and ``-tokens`` (per
minute) on every response; OpenAI-style services send the same names with requests per minute.
A limit is a :class:`Window`: a bucket that refills at a steady rate, full again ``reset`` after it
was read. The last known windows live in ``limits.json`` in the data directory, written atomically
under an ``fcntl`` lock, so the next run starts informed and two moa processes share one budget:
each reservation is written there before its request leaves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

MINUTE, DAY = 60.0, 86400.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """Seconds in ``7.66s``, ``2m59.56s``, ``1h2m3s``, ``250ms`` or a bare number; None if unreadable."""
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


@dataclass(frozen=True, slots=True)
class Window:
    """A limit of ``limit`` per period: ``remaining`` at time ``at`` (epoch seconds), refilling at ``rate`` per second."""

    limit: int
    remaining: float
    at: float
    rate: float

    @classmethod
    def full(cls, limit: int, period: float, now: float) -> Window:
        return cls(limit, float(limit), now, limit / period)

    @classmethod
    def announced(cls, limit: int, remaining: float, reset: float | None, period: float, now: float) -> Window:
        """A window from headers: ``reset`` seconds until full gives the refill rate."""
        rate = limit / period
        if reset and reset > 0 and remaining < limit:
            rate = (limit - remaining) / reset
        return cls(limit, min(float(remaining), float(limit)), now, rate)

    def available(self, now: float) -> float:
        return min(float(self.limit), self.remaining + max(now - self.at, 0.0) * self.rate)

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (``inf`` if it never will be)."""
        missing = amount - self.available(now)
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 and amount <= self.limit else math.inf

    def take(self, amount: float, now: float) -> Window:
        return replace(self, remaining=self.available(now) - amount, at=now)

    def give(self, amount: float, now: float) -> Window:
        return replace(self, remaining=min(float(self.limit), self.available(now) + amount), at=now)

    def reset_in(self, now: float) -> float:
        """Seconds until full again."""
        return (self.limit - self.available(now)) / self.rate if self.rate > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """Everything known of one model's limits (any field may be unknown)."""

    tokens: Window | None = None
    """Tokens per minute."""
    requests: Window | None = None
    """Requests per day (Groq)."""
    rpm: Window | None = None
    """Requests per minute (OpenAI-style headers, or the config)."""
    token_ratio: float | None = None
    """The server's prompt tokens per token of moa's estimate, learned from usage."""
    prefix: tuple[str, ...] = ()
    """Digests of the messages of the last request sent: what the server may have cached."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["prefix"] = list(self.prefix)
        return {k: v for k, v in data.items() if v not in (None, [])}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelLimits:
        def window(name: str) -> Window | None:
            value = data.get(name)
            return Window(**value) if isinstance(value, Mapping) else None

        ratio = data.get("token_ratio")
        return cls(
            tokens=window("tokens"),
            requests=window("requests"),
            rpm=window("rpm"),
            token_ratio=float(ratio) if isinstance(ratio, int | float) else None,
            prefix=tuple(str(p) for p in data.get("prefix") or ()),
        )


def observe_headers(known: ModelLimits, headers: Mapping[str, str], requests_period: float, now: float) -> ModelLimits:
    """``known`` updated with the ``x-ratelimit-*`` headers of one response (unchanged if none).

    ``requests_period`` is how long the requests limit spans: a day for Groq, a minute elsewhere.
    """

    def window(kind: str, period: float) -> Window | None:
        limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
        remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
        if limit is None or remaining is None or limit <= 0:
            return None
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}") or "")
        return Window.announced(int(limit), remaining, reset, period, now)

    tokens = window("tokens", MINUTE)
    requests = window("requests", requests_period)
    changes: dict[str, Window] = {}
    if tokens is not None:
        changes["tokens"] = tokens
    if requests is not None:
        changes["requests" if requests_period >= DAY else "rpm"] = requests
    return replace(known, **changes) if changes else known


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class LimitsBook:
    """``limits.json``: every model's :class:`ModelLimits`, shared by all moa processes.

    Reads need no lock (the file is replaced whole); every change is a read-modify-write under
    an exclusive ``fcntl`` lock. A file that cannot be read or written never stops a run: the
    book then lives in memory only.
    """

    path: Path | None
    _memory: dict[str, ModelLimits] = field(default_factory=dict)

    def get(self, model: str) -> ModelLimits:
        return self._read().get(model, ModelLimits())

    def update(self, model: str, change: Callable[[ModelLimits], ModelLimits]) -> ModelLimits:
        """Apply ``change`` to ``model``'s limits atomically; return the new limits."""
        with self._locked():
            models = self._read()
            models[model] = updated = change(models.get(model, ModelLimits()))
            self._write(models)
        return updated

    def _read(self) -> dict[str, ModelLimits]:
        if self.path is None:
            return dict(self._memory)
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            models = raw["models"]
            return {str(k): ModelLimits.from_json(v) for k, v in models.items() if isinstance(v, Mapping)}
        except FileNotFoundError:
            return dict(self._memory)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return dict(self._memory)  # a damaged file is rewritten on the next change

    def _write(self, models: dict[str, ModelLimits]) -> None:
        self._memory = dict(models)
        if self.path is None:
            return
        data = {"version": 1, "models": {k: v.as_json() for k, v in sorted(models.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".limits-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
                json.dump(data, out, indent=1)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            yield  # no lock to be had (a read-only data directory): still keep it in memory
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def wall_clock() -> float:
    """Wall-clock seconds: windows are shared between processes, so not a monotonic clock."""
    return time.time()
