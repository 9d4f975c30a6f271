"""A session database moa cannot write is still listed, shown, searched and exported; writing says why.

Permissions do not bind root, and CI runs as root. So the `moa` processes here run where a
read-only database is real: as root, under ``setpriv`` without the capabilities that override
file modes (``chmod a-w`` then binds root as it binds a user); as another user, as they are; and,
for a read-only file system, in a private mount namespace (``unshare``) with the data directory
bind-mounted read-only, which nothing bypasses.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from groq_server import Behavior, GroqServer

from moa_cli.events import Agent, AgentResult, MoaResult
from moa_cli.store import Store

REFS = ["-m", "ref/a", "-a", "agg/x"]
QUESTION, ANSWER = "Why is the sky blue?", "Rayleigh scattering makes the sky blue."
DROPPED = "-dac_override,-dac_read_search"
RO_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


@functools.cache
def _no_bypass() -> tuple[str, ...] | None:
    """The command prefix under which file modes bind `moa` (empty when not root); None if there is none."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = (setpriv, f"--inh-caps={DROPPED}", f"--bounding-set={DROPPED}", "--")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o500)
        probe = subprocess.run([*prefix, "sh", "-c", ': > "$0/probe"', tmp], capture_output=True)
        Path(tmp).chmod(0o700)
    return prefix if probe.returncode != 0 and b"denied" in probe.stderr else None


def _read_only_mount(directory: Path) -> tuple[str, ...] | None:
    """A command prefix that runs with ``directory`` on a read-only bind mount; None if not allowed here."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return None
    prefix = (unshare, "--mount", "--", "sh", "-c", RO_MOUNT, str(directory))
    probe = subprocess.run([*prefix, "sh", "-c", ': > "$0/probe"', str(directory)], capture_output=True)
    return prefix if probe.returncode != 0 and b"Read-only file system" in probe.stderr else None


def _run(prefix: tuple[str, ...], args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "moa_cli", *args], input=b"", capture_output=True, env=env, timeout=30
    )


@pytest.fixture
def data(tmp_path: Path, moa_env: dict[str, str]) -> Iterator[Path]:
    """The data directory with one answered turn in the session named ``kept`` (stored as `moa ask` does)."""
    with Store.open(env=moa_env) as store:
        turn = store.begin_turn(store.create_session("kept").id, QUESTION, {"references": ["ref/a"]})
        aggregator = AgentResult(Agent("aggregator", 1, 0, "agg/x"), [ANSWER], status="done", finished_at=1.0)
        store.finish_turn(turn, MoaResult(QUESTION, [], aggregator, "complete", finished_at=1.0))
    directory = tmp_path / "data" / "moa"
    yield directory
    for path in (directory, *directory.iterdir()):
        path.chmod(0o700)


def _read_only(data: Path) -> tuple[str, ...]:
    """``chmod a-w`` on the data directory and its files; the prefix under which that binds `moa`."""
    prefix = _no_bypass()
    if prefix is None:
        pytest.skip("root here, and setpriv cannot drop CAP_DAC_OVERRIDE: file modes would not bind moa")
    for path in (*data.iterdir(), data):
        path.chmod(path.stat().st_mode & ~0o222)
    return prefix


@pytest.fixture
def no_bypass(data: Path) -> tuple[str, ...]:
    return _read_only(data)


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_a_database_moa_cannot_write_is_listed_shown_searched_and_exported_as_it_is(
    data: Path, no_bypass: tuple[str, ...], moa_env: dict[str, str]
) -> None:
    before = _digest(data)
    listing = _run(no_bypass, ["sessions", "--json"], moa_env)
    assert listing.returncode == 0, listing.stderr
    assert [(s["name"], s["turns"]) for s in json.loads(listing.stdout)] == [("kept", 1)]
    show = _run(no_bypass, ["sessions", "show"], moa_env)
    assert show.returncode == 0, show.stderr
    assert b"Why is the sky blue?" in show.stdout and b"Rayleigh scattering" in show.stdout
    search = _run(no_bypass, ["sessions", "search", "rayleigh"], moa_env)
    assert search.returncode == 0 and b"[Rayleigh]" in search.stdout, search
    export = _run(no_bypass, ["sessions", "export", "kept", "--format", "json"], moa_env)
    assert export.returncode == 0, export.stderr
    assert json.loads(export.stdout)["turns"][0]["answer"] == "Rayleigh scattering makes the sky blue."
    for args in (["--help"], ["models"]):
        proc = _run(no_bypass, args, moa_env)
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr, (args, proc.stderr)
    assert _digest(data) == before


def test_a_database_that_needs_upgrading_and_cannot_be_written_says_so_in_one_line(
    data: Path, moa_env: dict[str, str]
) -> None:
    with sqlite3.connect(data / "moa.db") as db:  # as a moa from before m007 left it
        db.execute("DELETE FROM _migrations WHERE name = 'm007_session_title'")
    proc = _run(_read_only(data), ["sessions"], moa_env)
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert proc.stderr.decode() == (
        f"moa: error: cannot open session database {data / 'moa.db'}: it needs upgrading (m007_session_title), "
        f"and its directory {data} is not writable\n"
    )


@pytest.mark.parametrize(
    "args",
    [["sessions", "rm", "kept"], ["sessions", "rename", "kept", "other"], ["ask", *REFS, "-c", "And at dusk?"],
     ["ask", *REFS, "--session", "kept", "And at dusk?"]],
    ids=["rm", "rename", "ask -c", "ask --session"],
)
def test_a_command_that_must_write_says_in_one_line_which_file_and_why_before_anything_is_asked(
    data: Path, no_bypass: tuple[str, ...], moa_env: dict[str, str], groq_server: GroqServer, args: list[str]
) -> None:
    asked = len(groq_server.requests)
    proc = _run(no_bypass, args, moa_env)
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        f"moa: error: cannot write session database {data / 'moa.db'}: its directory {data} is not writable\n"
    )
    assert proc.stdout == b"" and len(groq_server.requests) == asked


def test_ask_on_a_database_moa_cannot_write_warns_first_then_answers(
    data: Path, no_bypass: tuple[str, ...], moa_env: dict[str, str], groq_server: GroqServer
) -> None:
    groq_server.set("agg/x", Behavior(text="Orange, at dusk."))
    before = _digest(data)
    proc = _run(no_bypass, ["ask", *REFS, "And at dusk?"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Orange, at dusk.\n"
    warning = (
        f"moa: warning: history will not be saved: cannot write session database {data / 'moa.db'}: "
        f"its directory {data} is not writable\n"
    )
    assert proc.stderr.decode().startswith(warning), proc.stderr
    assert b"Traceback" not in proc.stderr and _digest(data) == before


def test_chat_on_a_database_moa_cannot_write_refuses_before_the_first_prompt(
    data: Path, no_bypass: tuple[str, ...], moa_env: dict[str, str]
) -> None:
    argv = [*no_bypass, sys.executable, "-m", "moa_cli", "chat", *REFS]
    child = pexpect.spawn(argv[0], argv[1:], env=moa_env, dimensions=(24, 100), timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert child.before.decode().replace("\r\n", "\n") == (
        f"moa: error: cannot write session database {data / 'moa.db'}: its directory {data} is not writable\n"
    )


@pytest.fixture
def read_only_fs(data: Path) -> tuple[str, ...]:
    prefix = _read_only_mount(data)
    if prefix is None:
        pytest.skip("a read-only bind mount needs root and unshare with CAP_SYS_ADMIN; not available here")
    return prefix


def test_a_database_on_a_read_only_file_system_is_shown_as_it_is(
    data: Path, read_only_fs: tuple[str, ...], moa_env: dict[str, str]
) -> None:
    assert sorted(p.name for p in data.iterdir()) == ["moa.db"]  # no -shm: SQLite's mode=ro cannot open it
    show = _run(read_only_fs, ["sessions", "show", "kept"], moa_env)
    assert show.returncode == 0, show.stderr
    assert b"Rayleigh scattering makes the sky blue." in show.stdout
    rm = _run(read_only_fs, ["sessions", "rm", "kept"], moa_env)
    assert rm.stderr.decode() == (
        f"moa: error: cannot write session database {data / 'moa.db'}: {data} is on a read-only file system\n"
    )


CRASH = """
import os, sys
from moa_cli.store import Store
store = Store.open()
store._db.execute("PRAGMA wal_autocheckpoint = 0")
store.create_session("after the crash")
os._exit(0)
"""


@pytest.mark.parametrize("shm", [True, False], ids=["with -shm", "without -shm"])
def test_changes_left_in_the_write_ahead_log_are_read_or_the_reason_they_cannot_be_is_said(
    data: Path, read_only_fs: tuple[str, ...], moa_env: dict[str, str], shm: bool
) -> None:
    subprocess.run([sys.executable, "-c", CRASH], env=moa_env, check=True)
    if not shm:
        (data / "moa.db-shm").unlink()
    listing = _run(read_only_fs, ["sessions", "--json"], moa_env)
    if shm:
        assert listing.returncode == 0, listing.stderr
        assert {s["name"] for s in json.loads(listing.stdout)} == {"kept", "after the crash"}
    else:
        assert listing.returncode == 1 and listing.stdout == b""
        assert listing.stderr.decode() == (
            f"moa: error: cannot open session database {data / 'moa.db'}: moa.db-wal holds its latest changes, "
            f"which SQLite reads only by creating moa.db-shm beside it, but {data} is on a read-only file system; "
            "copy the directory somewhere writable to read it\n"
        )
