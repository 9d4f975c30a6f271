"""Where moa keeps its data: standard library only, so any command can ask cheaply."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$MOA_HOME``, else ``$XDG_DATA_HOME/moa``, else ``~/.local/share/moa``."""
    home = Path(env.get("HOME") or Path.home())
    if explicit := env.get("MOA_HOME"):
        path = Path(explicit)
        return home.joinpath(*path.parts[1:]) if path.parts and path.parts[0] == "~" else path
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "moa"
