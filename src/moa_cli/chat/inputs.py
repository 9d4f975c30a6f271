"""What a typed line is, and the commands that shape the next message: ``/file``, ``/role``, ``/edit``."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from rich.text import Text

from moa_cli.app.files import check_fits, read_files
from moa_cli.app.requests import room_for_question
from moa_cli.chat.session import ChatSession
from moa_cli.errors import UsageError


def as_message(line: str) -> str | None:
    """The message ``line`` sends, or None when it is a command.

    Only a line whose first character is ``/`` is a command; ``//text`` sends ``/text``, and a
    line starting with a space is a message however it goes on (`` /usr/bin is...``).
    """
    if line.startswith("//"):
        return line[1:].strip()
    if line.startswith("/"):
        return None
    return line.strip()


def file_command(chat: ChatSession, arg: str) -> str | None:
    """``/file PATH... [-- MESSAGE]``: attach files to the next message, or send them with MESSAGE now."""
    paths, _, message = arg.partition(" -- ")
    patterns = shlex.split(paths.removesuffix(" --").strip())
    if not patterns:
        listed = ", ".join(file.path for file in chat.files) or "none"
        chat.console.print(Text(f"attached for the next message: {listed}", style="dim"))
        return None
    files = read_files(patterns)
    check_fits([*chat.files, *files], room_for_question(chat.conversation.settings))
    chat.files += [file for file in files if file not in chat.files]
    summary = ", ".join(f"{file.path} (~{file.tokens:,} tokens)" for file in files)
    if message.strip():
        return message.strip()
    chat.console.print(Text(f"attached {summary}; they go before your next message", style="green"))
    return None


def role_command(chat: ChatSession, arg: str) -> None:
    """``/role [NAME|off]``: list the roles, or ask through one from now on."""
    name = arg.strip()
    if not name:
        roles = ", ".join(chat.config.roles) or "none; add a [roles.NAME] table to the config file"
        current = chat.role.name if chat.role else "none"
        chat.console.print(Text(f"role: {current} · roles: {roles}"))
        return
    chat.use_role(None if name == "off" else chat.config.role(name))
    models = ", ".join(spec.model for spec in chat.conversation.settings.references)
    said = f"role {name}: {models} → {chat.conversation.settings.aggregator.model}" if chat.role else "no role"
    chat.console.print(Text(said, style="green"))


def editor() -> list[str]:
    """The user's editor command: ``$VISUAL``, else ``$EDITOR``, else ``vi``."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit_command(chat: ChatSession, arg: str) -> str | None:
    """``/edit [TEXT]``: write the message in ``$EDITOR`` (starting from TEXT); saved text is sent."""
    with tempfile.TemporaryDirectory(prefix="moa-") as folder:
        path = Path(folder) / "message.md"
        path.write_text(arg, encoding="utf-8")
        command = editor()
        try:
            done = subprocess.run([*command, str(path)], check=False)
        except OSError as exc:
            raise UsageError(f"cannot start the editor {command[0]!r}: {exc.strerror or exc}; set $EDITOR") from None
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    if done.returncode != 0:
        raise UsageError(f"the editor exited with status {done.returncode}; nothing sent")
    if not text:
        chat.console.print(Text("(empty message; nothing sent)", style="dim"))
        return None
    return text
