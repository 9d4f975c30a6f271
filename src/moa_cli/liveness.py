"""Whether the process that began a turn still runs: a pid alone cannot tell.

A pid is reused, and in a container moa may run as PID 1, which every later run sees alive. So a
turn also stores the process's *marker*: the boot id and the process's start time (in clock ticks
since boot, from ``/proc/PID/stat``). The same pid with the same start time in the same boot is
the same process; a reused pid, a restarted container or a reboot gives a different marker. A
lock held on a file would prove it too, but needs a file and a descriptor per running turn and
is lost on network file systems; the start time costs two small reads and needs neither.

Where ``/proc`` is missing (macOS, BSD) the marker is empty and the pid alone decides.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PROC = Path("/proc")


@cache
def own_marker() -> str | None:
    """This process's marker, ``BOOT_ID:START_TICKS``, or None where it cannot be known."""
    return _marker(os.getpid())


def _marker(pid: int) -> str | None:
    boot, start = _boot_id(), _start_ticks(pid)
    return None if boot is None or start is None else f"{boot}:{start}"


def alive(pid: int | None, marker: str | None) -> bool:
    """Whether process ``pid``, which had ``marker`` when it began the turn, still runs."""
    if os.name == "nt":  # there os.kill(pid, 0) would terminate the process
        return True
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    if marker is None:  # stored by an older moa, or no /proc: the pid is all there is
        return True
    now = _marker(pid)
    return now is None or now == marker


@cache
def _boot_id() -> str | None:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat``; the command name (field 2) may hold spaces and parentheses."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None
