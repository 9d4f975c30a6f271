"""Where moa keeps its data, and keeping it private: standard library only, so any command can ask cheaply."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from moa_cli.errors import UnsafePathError


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$MOA_HOME``, else ``$XDG_DATA_HOME/moa``, else ``~/.local/share/moa``."""
    home = Path(env.get("HOME") or Path.home())
    if explicit := env.get("MOA_HOME"):
        path = Path(explicit)
        return home.joinpath(*path.parts[1:]) if path.parts and path.parts[0] == "~" else path
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "moa"


def private_dir(path: Path) -> Path:
    """Creates ``path`` and each missing parent with mode 0700 (whatever the umask), then checks it.

    ``Path.mkdir(parents=True)`` would make the parents 0777 less the umask: under ``umask 0``,
    a directory anyone can write.
    """
    missing = []
    for directory in (path, *path.parents):
        if directory.exists():
            if directory == path and not directory.is_dir():  # $MOA_HOME naming a file
                raise NotADirectoryError(errno.ENOTDIR, f"{directory} is not a directory")
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # another moa made it meanwhile
            pass
    check_private(path)
    return path


def private_file(path: Path) -> Path:
    """Creates ``path`` empty with mode 0600 if it is missing (its directory must exist), then checks it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    check_private(path)
    return path


def check_private(path: Path) -> None:
    """Raises :class:`UnsafePathError` if ``path`` is another user's or others can write it.

    As ssh does with ``~/.ssh``: another user who owns or can write moa's files can read the
    questions asked and replace the stored keys. A missing path is not checked.
    """
    try:
        info = path.stat()  # a symlinked data dir is judged by what it points to
    except FileNotFoundError:
        return
    except OSError:
        return  # opening it will fail with the real reason
    is_dir = stat.S_ISDIR(info.st_mode)
    if info.st_uid != os.geteuid():
        raise UnsafePathError(
            f"refusing {path}: it belongs to another user (uid {info.st_uid}); "
            f"fix: chown -R $(id -u) {path}, or set MOA_HOME to a directory of yours"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = "700" if is_dir else "600"
        raise UnsafePathError(
            f"refusing {path}: others can write it (mode {stat.S_IMODE(info.st_mode):04o}); fix: chmod {mode} {path}"
        )
