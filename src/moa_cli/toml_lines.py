"""Finding the line on which each key of a TOML document is defined: tomllib keeps no positions."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from moa_cli.checks import BARE, Key

_SCALAR = re.compile(r"[^,\]}#\n]+")


class Locator:
    """Finds the line on which each key path of a valid TOML document is defined.

    It walks the text: ``[table]`` and ``[[array]]`` headers,
    ``key = value`` lines (quoted and dotted keys too), array items and inline tables. Paths it
    cannot place are simply absent.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.lines: dict[Key, int] = {}
        self.arrays: dict[Key, int] = {}  # array-of-tables path -> tables so far

    def run(self) -> dict[Key, int]:
        try:
            self._document()
        except (IndexError, ValueError):
            pass  # only on text tomllib rejects; what was found so far is still right
        return self.lines

    def _line(self) -> int:
        return bisect.bisect_left(self.newlines, self.pos) + 1

    def _define(self, path: Key, line: int) -> None:
        for size in range(1, len(path)):
            self.lines.setdefault(path[:size], line)
        self.lines[path] = line

    def _document(self) -> None:
        table: Key = ()
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return
            line = self._line()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                keys = self._key()
                self._expect("]]")
                array = self._expand(keys[:-1]) + (keys[-1],)
                index = self.arrays.get(array, 0)
                self.arrays[array] = index + 1
                table = array + (index,)
                self._define(table, line)
            elif self.text[self.pos] == "[":
                self.pos += 1
                keys = self._key()
                self._expect("]")
                table = self._expand(keys)
                self._define(table, line)
            else:
                self._pair(table)

    def _expand(self, keys: Sequence[str]) -> Key:
        """A header's key path, with each array of tables standing for its last table."""
        path: Key = ()
        for key in keys:
            path += (key,)
            if path in self.arrays:
                path += (self.arrays[path] - 1,)
        return path

    def _pair(self, table: Key) -> None:
        line = self._line()
        path = table + tuple(self._key())
        self._expect("=")
        self._define(path, line)
        self._value(path)

    def _key(self) -> list[str]:
        keys = []
        while True:
            self._skip()
            if self.text[self.pos] in "\"'":
                start = self.pos
                self._string()
                import tomllib

                keys.append(next(iter(tomllib.loads(self.text[start : self.pos] + " = 0"))))
            else:
                match = BARE.match(self.text, self.pos)
                if match is None:
                    raise ValueError("expected a key")
                self.pos = match.end()
                keys.append(match[0])
            self._skip()
            if self.text[self.pos] != ".":
                return keys
            self.pos += 1

    def _value(self, path: Key) -> None:
        self._skip()
        char = self.text[self.pos]
        if char in "\"'":
            self._string()
        elif char == "[":
            self.pos += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self.text[self.pos] == "]":
                    self.pos += 1
                    return
                self._define(path + (index,), self._line())
                self._value(path + (index,))
                index += 1
                self._skip(newlines=True)
                if self.text[self.pos] == ",":
                    self.pos += 1
                elif self.text[self.pos] != "]":
                    raise ValueError("expected ',' or ']'")
        elif char == "{":
            self.pos += 1
            while True:
                self._skip(newlines=True)
                if self.text[self.pos] == "}":
                    self.pos += 1
                    return
                self._pair(path)
                self._skip(newlines=True)
                if self.text[self.pos] == ",":
                    self.pos += 1
                elif self.text[self.pos] != "}":
                    raise ValueError("expected ',' or '}'")
        else:
            match = _SCALAR.match(self.text, self.pos)
            if match is None:
                raise ValueError("expected a value")
            self.pos = match.end()

    def _string(self) -> None:
        text, quote = self.text, self.text[self.pos]
        basic = quote == '"'
        if text.startswith(quote * 3, self.pos):
            pos = self.pos + 3
            while not text.startswith(quote * 3, pos):
                pos += 2 if basic and text[pos] == "\\" else 1
                if pos >= len(text):
                    raise ValueError("unterminated string")
            pos += 3
            for _ in range(2):  # up to two quotes right before the closing ones belong to the string
                if pos < len(text) and text[pos] == quote:
                    pos += 1
        else:
            pos = self.pos + 1
            while text[pos] != quote:
                pos += 2 if basic and text[pos] == "\\" else 1
            pos += 1
        self.pos = pos

    def _skip(self, *, newlines: bool = False) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self.pos):
            raise ValueError(f"expected {token!r}")
        self.pos += len(token)

