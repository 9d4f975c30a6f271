"""stderr that can fail without costing the answer: progress and warnings are worth less than it.

With ``2>/dev/full``, a full disk under ``2>>log``, or stderr closed (``2>&-``), every write to
stderr fails, and one failed progress line must not end the run. :class:`SafeStderr` writes
straight to the descriptor, unbuffered (so nothing is left to fail again at exit), and after
the first failure drops everything quietly.
"""

from __future__ import annotations

import io
import os
import sys

STDERR_FD = 2


class SafeStderr(io.TextIOBase):
    """A text stream on ``fd`` whose writes never raise; ``broken`` once one has failed."""

    def __init__(self, fd: int = STDERR_FD, encoding: str = "utf-8") -> None:
        super().__init__()
        self.fd = fd
        self._encoding = encoding
        self.broken = False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        try:
            return os.isatty(self.fd)
        except OSError:
            return False

    def write(self, text: str) -> int:
        if self.broken:
            return len(text)
        data = text.encode(self._encoding, "backslashreplace")
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:  # ENOSPC, EPIPE, EBADF...: stop trying, keep the run going
            self.broken = True
        return len(text)

    def flush(self) -> None:
        pass


def guard_stderr() -> None:
    """Make ``sys.stderr`` a :class:`SafeStderr`; a closed descriptor 2 is first pointed at /dev/null.

    A closed descriptor 2 would otherwise be the next file opened (the session database), and
    anything written to "stderr" would land in it.
    """
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        os.fstat(STDERR_FD)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != STDERR_FD:
            os.dup2(devnull, STDERR_FD)
            os.close(devnull)
    sys.stderr = SafeStderr(STDERR_FD, encoding)


stdout_was_closed = False
"""Set by :func:`guard_stdout`: moa was started with descriptor 1 closed (``moa ask q >&-``)."""


def guard_stdout() -> None:
    """Point a closed descriptor 1 at /dev/null, for the same reason as :func:`guard_stderr`.

    The answer then has nowhere to go but the session store; ``moa ask`` says so and still runs.
    """
    global stdout_was_closed
    try:
        os.fstat(1)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != 1:
            os.dup2(devnull, 1)
            os.close(devnull)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
        stdout_was_closed = True
