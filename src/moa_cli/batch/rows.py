"""Reading a batch's input: JSONL, CSV or plain text lines, in the shapes data sets come in.

A row asks one question (``prompt``, ``question``, ``instruction``, or ``--field``), several in
turn (``turns``, MT-Bench: each answered with the earlier turns and answers as history), or
continues a conversation (``messages``: the last user message is asked, the rest is history).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moa_cli.errors import UsageError
from moa_cli.request import Message

QUESTION_FIELDS = ("prompt", "question", "instruction")
ID_FIELDS = ("id", "question_id", "custom_id")


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: its id, the user turns to ask in order, and any conversation before them."""

    id: str
    turns: tuple[str, ...]
    history: tuple[Message, ...] = ()
    system: str | None = None

    @property
    def digest(self) -> str:
        """A short hash of what the row asks: an answer kept for another text is not this row's."""
        text = json.dumps(
            [self.turns, [m.as_dict() for m in self.history], self.system], ensure_ascii=False
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_rows(path: Path, field: str | None = None) -> list[Row]:
    """Every row of ``path``; a row that cannot be read is one clear error naming its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    kind = _kind(path, text)
    if kind == "text":
        rows = [Row(str(n), (line.strip(),)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        records = _jsonl(path, text) if kind == "jsonl" else _csv(text)
        rows = [_row(path, n, record, field) for n, record in records]
    if not rows:
        raise UsageError(f"{path}: no rows")
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise UsageError(f"{path}: the id {row.id!r} is used twice; each row needs its own")
        seen.add(row.id)
    return rows


def _kind(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "jsonl" if text.lstrip().startswith("{") else "text"


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not a JSON line ({exc.msg})") from None


def _csv(text: str) -> Iterator[tuple[int, Any]]:
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;") if text.strip() else csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    for record in reader:
        yield reader.line_num, record


def _row(path: Path, number: int, record: Any, field: str | None) -> Row:
    where = f"{path}:{number}"
    if not isinstance(record, dict):
        raise UsageError(f"{where}: a row must be a JSON object, not {type(record).__name__}")
    row_id = next((str(record[k]) for k in ID_FIELDS if record.get(k) not in (None, "")), str(number))
    if field is not None:
        if field not in record:
            raise UsageError(f"{where}: no field {field!r} (it has: {', '.join(map(str, record)) or 'nothing'})")
        return Row(row_id, (_text(where, field, record[field]),))
    if "turns" in record:
        turns = record["turns"]
        if not isinstance(turns, list) or not turns:
            raise UsageError(f"{where}: 'turns' must be a list of questions")
        return Row(row_id, tuple(_text(where, "turns", turn) for turn in turns))
    if "messages" in record:
        return _conversation(where, row_id, record["messages"])
    for name in QUESTION_FIELDS:
        if name in record:
            question = _text(where, name, record[name])
            extra = record.get("input")  # AlpacaEval/Alpaca: an instruction with its input
            if name == "instruction" and isinstance(extra, str) and extra.strip():
                question = f"{question}\n\n{extra}"
            return Row(row_id, (question,))
    found = ", ".join(map(str, record)) or "nothing"
    raise UsageError(
        f"{where}: no question found (looked for {', '.join((*QUESTION_FIELDS, 'turns', 'messages'))}; "
        f"it has: {found}); name the field with --field"
    )


def _conversation(where: str, row_id: str, messages: Any) -> Row:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise UsageError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    system = "\n\n".join(_text(where, "messages", m.get("content")) for m in messages if m.get("role") == "system")
    chat = [m for m in messages if m.get("role") in ("user", "assistant")]
    if not chat or chat[-1].get("role") != "user":
        raise UsageError(f"{where}: 'messages' must end with a user message")
    history = tuple(Message(m["role"], _text(where, "messages", m.get("content"))) for m in chat[:-1])
    return Row(row_id, (_text(where, "messages", chat[-1].get("content")),), history, system or None)


def _text(where: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: {name!r} must be non-empty text")
    return value
