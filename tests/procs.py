"""`moa` runs for tests: ``python -m moa_cli ARGS`` with piped stdin, stdout and stderr.

Runs are forked from forkserver.py (one per pytest worker, started on first use), which has the
libraries imported already; the child runs moa_cli as ``__main__`` like ``python -m moa_cli`` does.
A run whose environment changes what the interpreter or a preloaded library reads at start-up
(``forkserver.startup_env``), or any run when ``MOA_TEST_SPAWN=exec`` is set, is a real
``python -m moa_cli`` instead.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from forkserver import startup_env

FORKSERVER = Path(__file__).with_name("forkserver.py")
TEST_TERMINAL = {"NO_COLOR": "1", "COLUMNS": "100", "LINES": "40"}
"""The terminal every test's moa assumes unless it says otherwise; rich reads it when moa_cli loads."""
cpu_seconds = 0.0
"""User and system CPU of every forked run reaped so far in this process (for measuring the suite)."""


class ForkServer:
    """forkserver.py as a subprocess, its socket in a private temporary directory."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="moa-fork-")
        self.path = os.path.join(self.dir.name, "socket")
        self.env = {**os.environ, **TEST_TERMINAL}
        self.proc = subprocess.Popen(
            [sys.executable, str(FORKSERVER), self.path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        ready, _, read = line.partition(b" ")
        if ready != b"READY":
            self.proc.kill()
            raise RuntimeError(f"forkserver.py did not start (exit {self.proc.wait(10)}): {line!r}")
        self.read: list[str] = json.loads(read)

    def takes(self, env: dict[str, str]) -> bool:
        """Whether a fork of this server can run under ``env`` as a fresh interpreter would."""
        return self.proc.poll() is None and startup_env(env, self.read) == startup_env(self.env, self.read)

    def close(self) -> None:
        """End the server (its stdin closes) and wait for it, so its CPU counts as the suite's."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.dir.cleanup()


_server: ForkServer | None = None
_server_lock = threading.Lock()


def fork_server() -> ForkServer:
    """This process's fork server, started on first use and ended at exit."""
    global _server
    with _server_lock:
        if _server is None or _server.proc.poll() is not None:
            _server = ForkServer()
            atexit.register(_server.close)
        return _server


def run(
    args: list[str], env: dict[str, str], stdin: bytes | None = b"", timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """``python -m moa_cli ARGS`` as ``subprocess.run(..., input=stdin, capture_output=True)`` would
    run it: ``stdin=None`` inherits this process's stdin; a run over ``timeout`` is killed and raises
    ``subprocess.TimeoutExpired``."""
    command = [sys.executable, "-m", "moa_cli", *args]
    if os.environ.get("MOA_TEST_SPAWN") == "exec" or not (server := fork_server()).takes(env):
        return subprocess.run(command, input=stdin, capture_output=True, env=env, timeout=timeout)
    return _forked(server, command, env, stdin, timeout)


def _forked(
    server: ForkServer, command: list[str], env: dict[str, str], stdin: bytes | None, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    deadline = time.monotonic() + timeout
    in_r, in_w = os.pipe() if stdin is not None else (os.dup(0), -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(server.path)
        body = json.dumps({"args": command[3:], "env": env, "cwd": os.getcwd(), "umask": _umask()}).encode()
        socket.send_fds(conn, [len(body).to_bytes(8, "big")], [in_r, out_w, err_w])
        conn.sendall(body)
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    replies = conn.makefile("rb")
    pid = int(replies.readline())
    out, err, timed_out = _communicate(in_w, stdin or b"", out_r, err_r, deadline)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    status, user, system = replies.readline().split()
    conn.close()
    global cpu_seconds
    cpu_seconds += float(user) + float(system)
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output=out, stderr=err)
    return subprocess.CompletedProcess(command, os.waitstatus_to_exitcode(int(status)), out, err)


def _umask() -> int:
    """This process's umask, read without setting it (other threads may be creating files)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask in /proc/self/status")


def _communicate(in_w: int, data: bytes, out_r: int, err_r: int, deadline: float) -> tuple[bytes, bytes, bool]:
    """Write ``data`` to the child's stdin and read its stdout and stderr to their ends, as
    ``Popen.communicate`` does; the third value is True if ``deadline`` passed first."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    view = memoryview(data)
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        if in_w >= 0:
            if view:
                os.set_blocking(in_w, False)
                selector.register(in_w, selectors.EVENT_WRITE)
            else:
                os.close(in_w)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                for key in list(selector.get_map().values()):
                    selector.unregister(key.fd)
                    os.close(key.fd)
                return b"".join(chunks[out_r]), b"".join(chunks[err_r]), True
            for key, _ in selector.select(left):
                if key.fd == in_w:
                    try:
                        view = view[os.write(in_w, view[:65536]) :]
                    except BrokenPipeError:
                        view = view[:0]
                    if not view:
                        selector.unregister(in_w)
                        os.close(in_w)
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    chunks[key.fd].append(chunk)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), False
