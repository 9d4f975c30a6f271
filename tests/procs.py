"""`moa` processes for tests: ``python -m moa_cli ARGS`` run to its end (``run``), started with
pipes (``popen``) or on a pseudo-terminal (``spawn``).

Runs are forked from forkserver.py (one per pytest worker, started on first use), which has
moa_cli and its libraries imported already; the child runs moa_cli as ``__main__`` like
``python -m moa_cli`` does. A run whose environment changes what the interpreter reads at start-up
or what was read while the server imported (``forkserver.startup_env``), or any run when
``MOA_TEST_SPAWN=exec`` is set, is a real ``python -m moa_cli`` instead.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pexpect
import ptyprocess

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
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
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


class Run:
    """One forked run: its pid, and the connection on which the server reports its wait status."""

    def __init__(self, server: ForkServer, args: list[str], env: dict[str, str], cwd: str | None,
                 fds: list[int], session: bool = False) -> None:
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.connect(server.path)
        request = {"args": args, "env": env, "cwd": cwd or os.getcwd(), "umask": _umask(), "session": session}
        body = json.dumps(request).encode()
        socket.send_fds(self.conn, [len(body).to_bytes(8, "big")], fds)
        self.conn.sendall(body)
        self.buffer = b""
        self.pid = int(self._line(block=True))  # type: ignore[arg-type]

    def _line(self, block: bool) -> bytes | None:
        while b"\n" not in self.buffer:
            if not block and not select.select([self.conn], [], [], 0)[0]:
                return None
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ConnectionError(f"the fork server hung up on run {self.pid}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def status(self, block: bool = True) -> int | None:
        """The child's wait status once it has ended (``os.waitpid``'s); None if ``block`` is False
        and it still runs."""
        line = self._line(block)
        if line is None:
            return None
        status, user, system = line.split()
        self.conn.close()
        global cpu_seconds
        cpu_seconds += float(user) + float(system)
        return int(status)


def _forked(
    server: ForkServer, command: list[str], env: dict[str, str], stdin: bytes | None, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    deadline = time.monotonic() + timeout
    in_r, in_w = os.pipe() if stdin is not None else (os.dup(0), -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        run = Run(server, command[3:], env, None, [in_r, out_w, err_w])
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    out, err, timed_out = _communicate(in_w, stdin or b"", out_r, err_r, deadline)
    if timed_out:
        os.kill(run.pid, signal.SIGKILL)
    status = run.status()
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output=out, stderr=err)
    return subprocess.CompletedProcess(command, os.waitstatus_to_exitcode(status), out, err)  # type: ignore[arg-type]


def popen(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen([python, "-m", "moa_cli", *ARGS], env=env, **kwargs)``, forked when it can
    be: not with ``preexec_fn`` or the other options a fork from the server cannot honour."""
    command = [sys.executable, "-m", "moa_cli", *args]
    plain = set(kwargs) <= {"stdin", "stdout", "stderr", "text", "encoding", "errors", "bufsize", "cwd"}
    if plain and os.environ.get("MOA_TEST_SPAWN") != "exec" and (server := fork_server()).takes(env):
        return ForkedPopen(server, command, env=env, **kwargs)
    return subprocess.Popen(command, env=env, **kwargs)


class ForkedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """A ``subprocess.Popen`` whose child the fork server made and reaps: the pipes, ``pid``,
    signals, ``poll``, ``wait`` and ``communicate`` are Popen's own; only starting and waiting
    go through the server (CPython's POSIX ``_execute_child``, ``_internal_poll``, ``_try_wait``)."""

    def __init__(self, server: ForkServer, *args: Any, **kwargs: Any) -> None:
        self._server = server
        super().__init__(*args, **kwargs)

    def _execute_child(self, args: list[str], executable: Any, preexec_fn: Any, close_fds: Any, pass_fds: Any,
                       cwd: str | None, env: dict[str, str], startupinfo: Any, creationflags: Any, shell: Any,
                       p2cread: int, p2cwrite: int, c2pread: int, c2pwrite: int, errread: int, errwrite: int,
                       *_: Any) -> None:
        fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1, errwrite if errwrite != -1 else 2]
        try:
            self._run = Run(self._server, list(args)[3:], env, cwd, fds)
            self.pid = self._run.pid
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        status = self._run.status(block=not wait_flags & os.WNOHANG)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        if self.returncode is None and self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            try:
                if self.returncode is None:
                    pid, status = self._try_wait(os.WNOHANG)
                    if pid == self.pid:
                        self._handle_exitstatus(status)  # type: ignore[attr-defined]
            finally:
                self._waitpid_lock.release()  # type: ignore[attr-defined]
        return self.returncode


def spawn(args: list[str], env: dict[str, str], **kwargs: Any) -> pexpect.spawn:
    """``pexpect.spawn(python, ["-m", "moa_cli", *ARGS], env=env, **kwargs)`` on a pty, forked
    when it can be (not with ``preexec_fn`` or ``ignore_sighup``)."""
    argv = ["-m", "moa_cli", *args]
    if kwargs.get("preexec_fn") or kwargs.get("ignore_sighup") or os.environ.get("MOA_TEST_SPAWN") == "exec" or not (
        server := fork_server()
    ).takes(env):
        return pexpect.spawn(sys.executable, argv, env=env, **kwargs)
    return ForkedSpawn(server, sys.executable, argv, env=env, **kwargs)


class ForkedSpawn(pexpect.spawn):
    """pexpect's spawn with the child forked by the server: a new session on a fresh pty of the
    given size, as ``ptyprocess`` makes one; everything after is pexpect's own."""

    def __init__(self, server: ForkServer, *args: Any, **kwargs: Any) -> None:
        self._server = server
        super().__init__(*args, **kwargs)

    def _spawnpty(self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                  echo: bool = True, preexec_fn: Any = None, dimensions: tuple[int, int] = (24, 80),
                  **_: Any) -> ForkedPty:
        master, terminal = os.openpty()
        try:
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", *dimensions, 0, 0))
            if not echo:
                attrs = termios.tcgetattr(terminal)
                attrs[3] &= ~termios.ECHO
                termios.tcsetattr(terminal, termios.TCSANOW, attrs)
            argv = [os.fsdecode(arg) for arg in args[3:]]
            run = Run(self._server, argv, env or dict(os.environ), cwd, [terminal] * 3, session=True)
        finally:
            os.close(terminal)
        child = ForkedPty(run, master)
        child.argv, child.env, child.launch_dir = args, env, cwd
        return child


class ForkedPty(ptyprocess.PtyProcess):
    """ptyprocess's handle on a child it did not fork: liveness and exit status come from the server."""

    def __init__(self, run: Run, fd: int) -> None:
        super().__init__(run.pid, fd)
        self._run = run

    def isalive(self) -> bool:
        if self.terminated:
            return False
        status = self._run.status(block=self.flag_eof)
        if status is None:
            return True
        self.status, self.terminated = status, True
        if os.WIFEXITED(status):
            self.exitstatus, self.signalstatus = os.WEXITSTATUS(status), None
        else:
            self.exitstatus, self.signalstatus = None, os.WTERMSIG(status)
        return False

    def wait(self) -> int | None:
        while self.isalive():
            self.flag_eof = True  # block in isalive until the server reports the status
        return self.exitstatus


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
