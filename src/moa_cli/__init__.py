"""moa-cli: Mixture-of-Agents answers from the command line.

Kept import-light: ``moa --help`` and ``moa --version`` load this module, so the engine's public
types are re-exported lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"
