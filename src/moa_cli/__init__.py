"""moa-cli: Mixture-of-Agents answers from the command line.

The engine's public names are re-exported lazily (PEP 562), so ``moa --help`` and
``moa --version``, which load this package, do not import the engine::

    from moa_cli import MoaRun, MoaRequest, ModelSpec
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "MoaRun": "moa_cli.engine",
    "MoaRequest": "moa_cli.request",
    "ModelSpec": "moa_cli.request",
    "Message": "moa_cli.request",
    "MoaResult": "moa_cli.events",
    "AgentResult": "moa_cli.events",
    "Event": "moa_cli.events",
    "Provider": "moa_cli.providers.base",
    "MoaError": "moa_cli.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'moa_cli' has no attribute {name!r}")
