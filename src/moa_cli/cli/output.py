"""One-line messages on stderr: ``moa: error: ...`` and ``moa: warning: ...``."""

from __future__ import annotations

import sys
from typing import TextIO

from moa_cli.ui.sanitize import strip_controls


def error(message: object, stream: TextIO | None = None) -> None:
    """Print ``moa: error: message`` on one line of stderr."""
    _line("error", message, stream)


def warn(message: object, stream: TextIO | None = None) -> None:
    """Print ``moa: warning: message`` on one line of stderr."""
    _line("warning", message, stream)


def say(text: str, stream: TextIO | None = None) -> None:
    """Print ``moa: text`` on stderr; a stderr that is full or closed is not worth failing over."""
    stream = stream or sys.stderr
    if stream is None:  # started with stderr closed: nowhere to say it
        return
    try:
        stream.write(f"moa: {text}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _line(kind: str, message: object, stream: TextIO | None) -> None:
    say(f"{kind}: {' '.join(strip_controls(str(message)).split())}", stream)
