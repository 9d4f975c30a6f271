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
from dataclasses import dataclass, field, replace
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
        data: dict[str, Any] = {name: _window_json(w) for name in ("tokens", "requests", "rpm") if (w := getattr(self, name))}
        if self.token_ratio is not None:
            data["token_ratio"] = self.token_ratio
        if self.prefix:
            data["prefix"] = list(self.prefix)
        return data

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


def _window_json(window: Window) -> dict[str, float]:
    return {"limit": window.limit, "remaining": window.remaining, "at": window.at, "rate": window.rate}


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


Change = Callable[[ModelLimits], ModelLimits]


@dataclass
class LimitsBook:
    """``limits.json``: every model's :class:`ModelLimits`, shared by all moa processes.

    Reads need no lock (the file is replaced whole) and parse the file only when another process
    has replaced it since; every write is a read-modify-write under an exclusive ``fcntl`` lock.
    :meth:`update` writes before it returns (a reservation must be there before its request
    leaves); :meth:`update_later` holds in this process what need not be shared at once (tokens
    given back, headers learned), written with the next update or :meth:`flush`. A file that
    cannot be read or written never stops a run: the book then lives in memory only.
    """

    path: Path | None
    _memory: dict[str, ModelLimits] = field(default_factory=dict)
    _seen: tuple[int, ...] | None = None
    """The file's identity when it was last read or written (None: never)."""
    _pending: list[tuple[str, Change]] = field(default_factory=list)
    """Changes in ``_memory`` not yet written, in order: applied again to a newer file."""
    _json: dict[str, tuple[ModelLimits, Any]] = field(default_factory=dict)
    """Each model's limits with their JSON as last read or written: only what changed is converted."""

    def get(self, model: str) -> ModelLimits:
        self._refresh()
        return self._memory.get(model, ModelLimits())

    def update(self, model: str, change: Change) -> ModelLimits:
        """Apply ``change`` to ``model``'s limits and write it (with any held change) atomically."""
        with self._locked():
            self._refresh(force=True)
            self._memory[model] = updated = change(self._memory.get(model, ModelLimits()))
            self._write()
        return updated

    def update_later(self, model: str, change: Change) -> None:
        """Apply ``change`` now in this process; write it with the next :meth:`update` or :meth:`flush`.

        ``change`` may be applied again, to what another process wrote meanwhile: it must be pure.
        """
        if self.path is None:
            self.update(model, change)
            return
        # No look at the file: if another process replaced it, the next read applies this again.
        self._memory[model] = change(self._memory.get(model, ModelLimits()))
        self._pending.append((model, change))

    def flush(self) -> None:
        """Write the changes :meth:`update_later` held."""
        if self._pending:
            with self._locked():
                self._refresh(force=True)
                self._write()

    def _refresh(self, force: bool = False) -> None:
        """Read the file again if another process replaced it (or ``force``), the held changes on top."""
        if self.path is None:
            return
        seen = _identity(self.path)
        if seen is None or (seen == self._seen and not force):
            return  # no file yet (or none to be had): what this process knows stands
        models = self._read()
        if models is None:
            self._seen = seen  # damaged: rewritten on the next change
            return
        for model, change in self._pending:
            models[model] = change(models.get(model, ModelLimits()))
        self._memory, self._seen = models, seen

    def _read(self) -> dict[str, ModelLimits] | None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_bytes())["models"]
            models = {}
            for model, value in raw.items():
                if not isinstance(value, Mapping):
                    continue
                known = self._json.get(model)
                if known is None or known[1] != value:
                    known = self._json[model] = (ModelLimits.from_json(value), value)
                models[str(model)] = known[0]
            return models
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def _as_json(self, model: str, limits: ModelLimits) -> Any:
        known = self._json.get(model)
        if known is None or known[0] is not limits:
            known = self._json[model] = (limits, limits.as_json())
        return known[1]

    def _write(self) -> None:
        self._pending.clear()
        if self.path is None:
            return
        data = {"version": 1, "models": {k: self._as_json(k, v) for k, v in sorted(self._memory.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".limits-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
                out.write(json.dumps(data, separators=(",", ":")))  # C-speed: no indent
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
        self._seen = _identity(self.path)

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


def _identity(path: Path) -> tuple[int, ...] | None:
    """What changes whenever the file is replaced: inode, size and times (None: no file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def wall_clock() -> float:
    """Wall-clock seconds: windows are shared between processes, so not a monotonic clock."""
    return time.time()
