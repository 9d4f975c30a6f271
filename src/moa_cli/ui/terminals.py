"""What moa knows of the terminal it draws on: how wide it is, and whether it rewraps lines."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

FALLBACK_COLUMNS = 80


def columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to; 80 if it cannot be told."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or FALLBACK_COLUMNS
    except (OSError, ValueError):
        return FALLBACK_COLUMNS


def rewraps(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the terminal rewraps its lines when it gets narrower, as most do (tmux, kitty, iTerm2,
    VTE, Konsole, Windows Terminal); xterm, rxvt, st and the Linux console cut them instead."""
    if env.get("TMUX"):
        return True  # tmux rewraps, whatever terminal it runs in
    if env.get("XTERM_VERSION"):
        return False
    term = env.get("TERM", "")
    return not (term in ("linux", "st") or term.startswith(("rxvt", "st-")))
