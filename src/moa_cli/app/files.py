"""Files given with ``moa ask -f`` or chat's ``/file``: read as text, each put before the question
under its path, as ``llm -f`` and ``aichat -f`` do.

A pattern with ``*``, ``?`` or ``[`` is a glob (``**`` reaches into subdirectories). A file that
is not UTF-8 text (or holds NUL bytes) is refused rather than sent as noise, and the files
together must fit the models' context with the room their answers need.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moa_cli.context import estimate_tokens
from moa_cli.errors import UsageError

GLOB_CHARACTERS = frozenset("*?[")
SNIFF_BYTES = 8192
"""How much of a file is looked at for NUL bytes, the mark of a binary file."""


@dataclass(frozen=True, slots=True)
class Attached:
    """One file's text and the path it is labelled with (as the user wrote it)."""

    path: str
    text: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


def read_files(patterns: Sequence[str]) -> list[Attached]:
    """Every file the patterns name, in order, each once; a pattern naming nothing is an error."""
    paths: list[str] = []
    for pattern in patterns:
        found = _expand(pattern)
        paths += [path for path in found if path not in paths]
    return [Attached(path, _read_text(path)) for path in paths]


def _expand(pattern: str) -> list[str]:
    pattern = str(Path(pattern).expanduser()) if pattern.startswith("~") else pattern
    if not GLOB_CHARACTERS & set(pattern):
        if Path(pattern).is_dir():
            raise UsageError(f"{pattern} is a directory; give the files, or a glob such as '{pattern}/*.py'")
        return [pattern]
    found = sorted(path for path in glob.glob(pattern, recursive=True) if Path(path).is_file())
    if not found:
        raise UsageError(f"no file matches '{pattern}'")
    return found


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\x00" in data[:SNIFF_BYTES]:
        raise UsageError(f"{path} is a binary file; only text files can be attached")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; only text files can be attached") from None


def with_files(files: Sequence[Attached], question: str) -> str:
    """``question`` after each file's text, labelled with its path."""
    blocks = [f'<file path="{file.path}">\n{file.text.rstrip(chr(10))}\n</file>' for file in files]
    return "\n\n".join([*blocks, question]) if question else "\n\n".join(blocks)


def check_fits(files: Sequence[Attached], room: int) -> None:
    """Refuse files that cannot fit in ``room`` tokens (the context less what the answers need)."""
    total = sum(file.tokens for file in files)
    if total <= room:
        return
    largest = max(files, key=lambda file: file.tokens)
    raise UsageError(
        f"the files are about {total:,} tokens ({largest.path}: {largest.tokens:,}), more than the "
        f"{max(room, 0):,} tokens the models' context leaves for the question; attach fewer or smaller files"
    )
