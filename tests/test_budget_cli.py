"""The free tier, end to end: Groq's limits emulated, the real CLI, two long questions back to back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conftest import run_moa
from groq_limits import FREE_TIER, Limiter
from groq_server import Behavior, GroqServer

MINUTE = 6.0
"""The emulated minute, shortened tenfold so the test waits seconds, not a minute."""
QUESTION = " ".join(f"word{i}" for i in range(600))


@pytest.fixture
def groq_server() -> Iterator[GroqServer]:
    answer = " ".join(f"point{i}" for i in range(1200))
    with GroqServer(default=Behavior(text=answer), limits=Limiter(FREE_TIER, minute=MINUTE)) as server:
        yield server


def test_two_long_questions_back_to_back_are_both_answered_without_413_or_429(
    groq_server: GroqServer, moa_env: dict[str, str]
) -> None:
    started = time.monotonic()
    first = run_moa(["ask", "First: " + QUESTION], moa_env, timeout=120)
    second = run_moa(["ask", "Second: " + QUESTION], moa_env, timeout=120)
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout.startswith(b"point0 point1") and second.stdout.startswith(b"point0 point1")
    statuses = [r.status for r in groq_server.requests]
    assert statuses == [200] * 8, statuses
    assert b"sending in" in second.stderr  # the second question waited for the minute, visibly
    assert elapsed < 20 * MINUTE
