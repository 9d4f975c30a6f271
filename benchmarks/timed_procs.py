"""Run a child process with its output on a pipe or on a pseudo-terminal, and time it.

Both runners drain the output continuously, timestamp its first byte with ``time.perf_counter()``
(CLOCK_MONOTONIC, so comparable with the in-process server's timestamps) and reap the child with
``os.wait4`` for its CPU time and peak RSS.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import tempfile
import termios
import time
from dataclasses import dataclass


@dataclass
class ProcResult:
    argv: list[str]
    returncode: int
    output: bytes
    """stdout (pipe) or everything the terminal received (pty)."""
    stderr: str
    started: float
    first_byte: float | None
    ended: float
    cpu: float
    """user + sys seconds of the child."""
    maxrss_mb: float

    @property
    def wall(self) -> float:
        return self.ended - self.started

    def check(self) -> ProcResult:
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.returncode}:\n{self.stderr}{self.output[-2000:]!r}")
        return self


def _drain(fd: int, proc: subprocess.Popen, deadline: float) -> tuple[bytes, float | None]:
    chunks: list[bytes] = []
    first: float | None = None
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.perf_counter()))
        if not ready:
            proc.kill()
            raise TimeoutError(f"{' '.join(proc.args)} did not finish in time")  # type: ignore[arg-type]
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the pty's other side closed
            data = b""
        if not data:
            return b"".join(chunks), first
        if first is None:
            first = time.perf_counter()
        chunks.append(data)


def _reap(proc: subprocess.Popen) -> tuple[int, float, float, float]:
    _, status, usage = os.wait4(proc.pid, 0)
    ended = time.perf_counter()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ended, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_piped(argv: list[str], env: dict[str, str], timeout: float = 60.0) -> ProcResult:
    """Run ``argv`` with stdin from /dev/null and stdout on a pipe (stderr kept aside)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        try:
            output, first = _drain(proc.stdout.fileno(), proc, started + timeout)
        finally:
            proc.stdout.close()
        code, ended, cpu, rss = _reap(proc)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return ProcResult(argv, code, output, stderr, started, first, ended, cpu, rss)


def run_pty(
    argv: list[str], env: dict[str, str], rows: int = 40, cols: int = 120, timeout: float = 60.0
) -> ProcResult:
    """Run ``argv`` with stdin, stdout and stderr on a fresh ``rows`` x ``cols`` pseudo-terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    finally:
        os.close(slave)
    try:
        output, first = _drain(master, proc, started + timeout)
    finally:
        os.close(master)
    code, ended, cpu, rss = _reap(proc)
    return ProcResult(argv, code, output, "", started, first, ended, cpu, rss)
