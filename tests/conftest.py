"""Shared fixtures: a local server speaking Groq's protocol, and an isolated environment for `moa`."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import procs
import pytest
from groq_server import GroqServer

ONE_WORKER = frozenset({"tests/test_llamacpp.py"})
"""Files whose tests share one costly server and must not run at once: each runs on one worker."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist load``, except that each file of ``ONE_WORKER`` is one unit of work, handed out
    first (the largest units go first). pytest-xdist's own ``loadgroup`` does not group under
    pytest 9 (its ``xdist_group`` marks leave node ids unchanged)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerFiles(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER else nodeid

    return OneWorkerFiles(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """With ``MOA_TEST_CPU=FILE``, append one line per test to FILE: the CPU seconds of this worker
    (all its threads: the test, its servers), of its reaped subprocesses, of its forked moa runs,
    then the wall seconds and the test id. What to look at when the suite gets slow."""
    report = os.environ.get("MOA_TEST_CPU")
    cpu, start = _cpu(), time.monotonic()
    yield
    if report:
        own, children, forked = (after - before for after, before in zip(_cpu(), cpu))
        with open(report, "a", encoding="utf-8") as out:
            out.write(f"{own:.2f} {children:.2f} {forked:.2f} {time.monotonic() - start:.2f} {item.nodeid}\n")


def _cpu() -> tuple[float, float, float]:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, procs.cpu_seconds


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
