"""A fork server for the tests' `moa` processes: moa_cli and its libraries are imported once.

``python -m moa_cli`` spends most of a short run importing (groq, openai, httpx, pydantic, rich,
typer, then moa_cli's own modules: about 0.7 of the 0.85 s of CPU a 'moa ask' costs on 2 cores),
and the suite starts several hundred. This server imports them once; each run is a fresh
``fork()`` that takes the caller's stdin, stdout and stderr, environment, working directory and
umask, rebuilds ``sys.stdin/stdout/stderr`` as CPython's start-up does, and then runs the module
``moa_cli`` as ``__main__`` exactly as ``python -m moa_cli`` does (``moa_cli/__main__.py`` calling
the real entry point, ``moa_cli.cli.main``). While it imports, the server records every
environment variable read (``WatchedEnviron``); procs.py, the client, runs a real
``python -m moa_cli`` instead when a run's environment differs in one of them or in what the
interpreter reads at start-up (``startup_env``).

Protocol, one Unix-socket connection per run: the client sends an 8-byte length with the three
descriptors (SCM_RIGHTS), then that many bytes of JSON (``args``, ``env``, ``cwd``, ``umask``, and
``session``: a new session whose controlling terminal is the descriptors', for a pty).
The server answers ``PID\\n`` once forked and ``STATUS USER_CPU SYSTEM_CPU\\n`` once the child is
reaped. It ends when its stdin (a pipe from the pytest worker) closes.

    python tests/forkserver.py SOCKET_PATH
"""

from __future__ import annotations

import fcntl
import importlib
import io
import json
import os
import pkgutil
import runpy
import selectors
import socket
import sys
import termios
import traceback
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

PRELOAD = (
    "asyncio", "json", "sqlite3", "ssl", "uuid", "email.utils", "concurrent.futures",
    "httpx", "httpcore", "h11", "anyio", "anyio._backends._asyncio", "sniffio", "certifi", "distro",
    "pydantic", "pydantic_core",
    "groq", "groq.resources", "groq.resources.chat", "groq.types", "groq.types.chat",
    "rich.console", "rich.live", "rich.markdown", "rich.panel", "rich.table", "rich.text", "rich.syntax",
    "click", "typer", "typer.main", "typer.core", "typer.rich_utils",
    "prompt_toolkit",
)
"""What `moa ask`, `chat`, `batch`, `eval` and `sessions` import besides moa_cli (``-X importtime``)."""

INTERPRETER_ENV = ("PYTHON", "LC_", "LANG", "TZ", "OPENSSL_", "SSL_CERT_")
"""Prefixes of variables read before Python code runs: by the interpreter (locale, stdio, flags;
keyring's ``PYTHON_KEYRING_BACKEND`` aside) and by OpenSSL when ``ssl`` loads."""


class WatchedEnviron(MutableMapping[str, str]):
    """``os.environ`` while the libraries load: it notes every variable read (``*``: all of them),
    but for sysconfig's (``HOME`` for the user site directory, which a venv does not use)."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real, self.read = real, set[str]()

    def __getitem__(self, key: str) -> str:
        frame = sys._getframe(1)
        while frame is not None and not frame.f_code.co_filename.endswith("sysconfig.py"):
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            self.read.add(key)
        return self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        del self.real[key]

    def __iter__(self) -> Iterator[str]:
        self.read.add("*")
        return iter(self.real)

    def __len__(self) -> int:
        return len(self.real)

    def copy(self) -> dict[str, str]:
        self.read.add("*")
        return dict(self.real)


def preload() -> set[str]:
    """Import ``PRELOAD`` and every module of moa_cli but ``__main__``; the variables they read."""
    real = os.environ
    os.environ = watched = WatchedEnviron(real)  # type: ignore[assignment]
    try:
        for name in PRELOAD:
            importlib.import_module(name)
        import moa_cli

        for module in pkgutil.walk_packages(moa_cli.__path__, "moa_cli."):
            if module.name != "moa_cli.__main__":
                importlib.import_module(module.name)
    finally:
        os.environ = real  # type: ignore[assignment]
    return watched.read


def startup_env(env: Mapping[str, str], read: Iterable[str]) -> dict[str, str]:
    """What of ``env`` a forked run could not take on: variables read at start-up (``read`` at
    preload, and the interpreter's); with ``*`` in ``read``, all of ``env``."""
    read = set(read)
    if "*" in read:
        return dict(env)
    return {key: value for key, value in env.items() if key in read or (
        key.startswith(INTERPRETER_ENV) and not key.startswith("PYTHON_"))}


def fresh_stdio(fd: int, name: str, like: io.TextIOWrapper) -> io.TextIOWrapper:
    """The text stream CPython's start-up makes for ``fd`` (``create_stdio``): buffered, newline
    ``\\n``, line-buffered on a terminal and always for stderr, encoding and errors as ``like``."""
    write = fd != 0
    buffer = io.open(fd, "wb" if write else "rb", -1, None, None, None, False)
    buffer.raw.name = name  # type: ignore[attr-defined]
    line_buffering = buffer.raw.isatty() or fd == 2  # type: ignore[attr-defined]
    stream = io.TextIOWrapper(buffer, like.encoding, like.errors, "\n", line_buffering, False)
    stream.mode = "w" if write else "r"  # type: ignore[misc]
    return stream


def run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become ``python -m moa_cli ARGS`` for ``request``; never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # as subprocess's close_fds
        if request["session"]:  # on a terminal, as pexpect starts a child (login_tty)
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.stdin, sys.stdout, sys.stderr = (
            fresh_stdio(0, "<stdin>", sys.__stdin__),  # type: ignore[arg-type]
            fresh_stdio(1, "<stdout>", sys.__stdout__),  # type: ignore[arg-type]
            fresh_stdio(2, "<stderr>", sys.__stderr__),  # type: ignore[arg-type]
        )
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        sys.argv = ["-m", *request["args"]]
        sys.path[0] = request["cwd"]  # python -m puts the working directory first
        importlib.invalidate_caches()
        code = main_module()
    except BaseException:  # a fault of this server's, shown as the run's stderr
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main_module() -> int:
    """``runpy`` as ``python -m`` uses it, with the interpreter's handling of how it ends."""
    try:
        runpy.run_module("moa_cli", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.stderr.flush()
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # as CPython ends on an uncaught KeyboardInterrupt
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = 120  # CPython's exit code when flushing stdout fails at exit
    return code


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """One run's request: its JSON and its three descriptors."""
    head, fds, _, _ = socket.recv_fds(conn, 8, 3)
    size = int.from_bytes(head, "big")
    body = bytearray()
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("request cut short")
        body += chunk
    return json.loads(body), fds


def serve(path: str, read: set[str]) -> None:
    """Accept runs on ``path`` until stdin closes; report each child's pid, then its status.
    The first line out is ``READY`` and the JSON list of the variables read at preload."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(0, selectors.EVENT_READ, "stdin")
    sys.stdout.write(f"READY {json.dumps(sorted(read))}\n")
    sys.stdout.flush()
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                if not os.read(0, 4096):
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = receive(conn)
                except (OSError, ValueError) as exc:
                    print(f"forkserver: bad request: {exc!r}", file=sys.stderr)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    run_child(request, fds)
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"{pid}\n".encode())
                selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, conn))
            else:
                pid, conn = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status, usage = os.wait4(pid, 0)
                try:
                    conn.sendall(f"{status} {usage.ru_utime} {usage.ru_stime}\n".encode())
                except OSError:
                    pass  # the caller gave up (a timeout) and closed its end
                conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], preload())
