"""Where the question comes from: the argument, piped stdin, or both."""

from __future__ import annotations

import os
import stat
import sys
from typing import BinaryIO

from moa_cli.errors import UsageError

STDIN_LIMIT = 8 * 1024 * 1024
"""The most stdin moa reads: 8 MiB is about 2 million tokens, more than any model's context (the
largest take 1-2 million), so nothing that could be answered is refused; what is longer is
refused after reading 8 MiB, in milliseconds and with memory bounded, even from ``yes |``."""
NO_INPUT_HINT = 'no question given; try: moa ask "your question", or pipe text: echo "..." | moa ask'


def decode_input(data: bytes) -> tuple[str, bool]:
    """``data`` as text, and whether bytes that are not UTF-8 had to be replaced."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def piped_stdin() -> BinaryIO | None:
    """stdin when something is piped or redirected into it (a pipe or a file), else None.

    A terminal is never read (nobody is typing into a one-shot command), nor is anything else
    a scheduler may leave open (a socket, a character device), which could block forever.
    """
    if sys.stdin is None:
        return None
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return None
    return sys.stdin.buffer if stat.S_ISFIFO(mode) or stat.S_ISREG(mode) else None


def read_question(argument: str | None, stdin: BinaryIO | None) -> tuple[str, list[str]]:
    """The question (stdin first, a blank line, then the argument) and any warnings about it.

    ``stdin`` is None when it is a terminal: we never wait for a person to type into a pipe.
    """
    warnings: list[str] = []
    parts: list[str] = []
    if stdin is not None:
        data = stdin.read(STDIN_LIMIT + 1)
        if len(data) > STDIN_LIMIT:
            raise UsageError("stdin holds more than 8 MiB; moa reads at most that much (more fits no model's context)")
        text, replaced = decode_input(data)
        if replaced:
            warnings.append("stdin is not valid UTF-8; undecodable bytes were replaced with U+FFFD")
        if "\x00" in text:
            text = text.replace("\x00", "")
            warnings.append("stdin held NUL bytes (binary data?); they were removed")
        if text.strip():
            parts.append(text.rstrip("\n"))
    if argument is not None and argument.strip():
        parts.append(argument.strip())
    if not parts:
        raise UsageError(NO_INPUT_HINT)
    return "\n\n".join(parts), warnings
