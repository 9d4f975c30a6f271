"""Shared fixtures: a local server speaking Groq's protocol, and an isolated environment for `moa`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import procs
from groq_server import GroqServer


@pytest.fixture
def groq_server() -> Iterator[GroqServer]:
    with GroqServer() as server:
        yield server


def isolated_env(tmp: Path, server: GroqServer) -> dict[str, str]:
    """Environment for a `moa` subprocess: test key, ``server``, config and data under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
    env.update(
        GROQ_API_KEY="test-key",
        GROQ_BASE_URL=server.base_url,
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        HOME=str(tmp / "home"),
        **procs.TEST_TERMINAL,
    )
    return env


@pytest.fixture
def moa_env(tmp_path: Path, groq_server: GroqServer) -> dict[str, str]:
    """Environment for a `moa` subprocess: test key, local server, config and data in tmp_path."""
    return isolated_env(tmp_path, groq_server)


def run_moa(
    args: list[str], env: dict[str, str], stdin: bytes | None = b"", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `python -m moa_cli ARGS` with piped stdin/stdout, as a user's shell pipeline would
    (forked from procs.py's fork server, which has moa's libraries imported already)."""
    return procs.run(args, env, stdin, timeout)
