"""`moa serve` as a real subprocess, for tests: started on a free port, its stderr read as it comes."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time

import procs

ADDRESS = re.compile(r"^moa: serving on (http://\S+)$")


class ServeProcess:
    """``python -m moa_cli serve --port 0 ARGS``; ``url`` is the base URL it printed (ending in /v1)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = procs.popen(
            ["serve", "--port", "0", *args],
            env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ADDRESS.match(self.wait_for_line(ADDRESS.pattern)).group(1)  # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, pattern: str, timeout: float = 20.0) -> str:
        """The next stderr line matching ``pattern``; fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s; stderr: {self.stderr}") from None
            if line is None:
                raise AssertionError(f"moa serve ended (exit {self.proc.wait()}); stderr: {self.stderr}")
            self.stderr.append(line)
            if re.search(pattern, line):
                return line

    def terminate(self, timeout: float = 20.0) -> int:
        """Send SIGTERM; the exit code once it has ended."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def rest_of_stderr(self) -> list[str]:
        """Every stderr line, once the process has ended."""
        self.proc.wait(20)
        while (line := self.lines.get(timeout=5)) is not None:
            self.stderr.append(line)
        return self.stderr

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition()`` until true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
