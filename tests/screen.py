"""A real pseudo-terminal for `moa`, and what a terminal would show of what it wrote (pyte)."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable

import pyte


def set_size(fd: int, rows: int, columns: int) -> None:
    """Sets the window size of the pty ``fd`` belongs to (the kernel signals its foreground group)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Pty:
    """`python -m moa_cli ARGS` with the pty's slave as the streams named in ``on_pty``, pipes otherwise."""

    def __init__(self, args: list[str], env: dict[str, str], *, rows: int = 24, columns: int = 100,
                 on_pty: tuple[str, ...] = ("stdout", "stderr")) -> None:
        self.master, slave = os.openpty()
        set_size(slave, rows, columns)
        streams = {name: (slave if name in on_pty else subprocess.PIPE) for name in ("stdout", "stderr")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moa_cli", *args], stdin=subprocess.DEVNULL, env=env, **streams
        )
        os.close(slave)
        self.output = b""

    def read_until(self, done: Callable[[bytes], bool], timeout: float = 20) -> bytes:
        """Reads the terminal's output until ``done(output so far)`` or it closes; fails at ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.output):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; the terminal showed {self.output[-2000:]!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    chunk = b""
                if not chunk:
                    break
                self.output += chunk
        return self.output

    def resize(self, rows: int, columns: int) -> None:
        """What a terminal does when its window changes: a new size, then SIGWINCH to the program."""
        set_size(self.master, rows, columns)
        self.proc.send_signal(signal.SIGWINCH)

    def finish(self, timeout: float = 20) -> tuple[bytes, bytes]:
        """What the terminal got until the process ended, and what its stdout pipe got (if one).

        Its exit code is then ``self.proc.returncode``.
        """
        self.read_until(lambda _: False, timeout)
        piped, _ = self.proc.communicate(timeout=timeout)
        os.close(self.master)
        return self.output, piped or b""


def screen(output: bytes, rows: int = 24, columns: int = 100) -> list[str]:
    """The lines a ``rows`` x ``columns`` terminal shows after ``output``, trailing blanks removed."""
    shown = pyte.Screen(columns, rows)
    pyte.ByteStream(shown).feed(output)
    return [line.rstrip() for line in shown.display]


def rewrap(shown: pyte.Screen, columns: int, *, keep_cursor_row: bool) -> pyte.Screen:
    """What a terminal that rewraps its lines shows once ``columns`` wide: each row rewrapped, and
    the cursor either kept on its row, rows that no longer fit above it pushed off the top (tmux), or
    moved down with its line (rows pushed off the top only once the screen is full).

    (pyte itself cuts lines on a resize, as xterm does.)
    """
    rows = [line.rstrip() for line in shown.display]
    x, y = shown.cursor.x, shown.cursor.y
    cursor_line = _wrapped(rows[y].ljust(x), columns)
    cursor_row = min(x // columns, len(cursor_line) - 1)
    above = [part for line in rows[:y] for part in _wrapped(line, columns)] + cursor_line[:cursor_row]
    below = cursor_line[cursor_row:] + [part for line in rows[y + 1 :] for part in _wrapped(line, columns)]
    kept_above = len(above) if not keep_cursor_row else y
    kept_above = min(kept_above, shown.lines - 1)
    kept = (above[len(above) - kept_above :] if kept_above else []) + below
    result = pyte.Screen(columns, shown.lines)
    stream = pyte.Stream(result)
    for row, text in enumerate(kept[: shown.lines]):
        stream.feed(f"\x1b[{row + 1};1H{text}")
    stream.feed(f"\x1b[{kept_above + 1};{x - cursor_row * columns + 1}H")
    return result


def _wrapped(line: str, columns: int) -> list[str]:
    return [line[i : i + columns] for i in range(0, len(line), columns)] or [""]
