"""Groq's free tier, emulated: what issue 10 asks to measure, through the real CLI.

1. Two long questions asked back to back (600-word questions, 1,200-word answers, Groq-like
   speeds) with the default models and Groq's free-tier limits on a real 60-second minute: the time
   they took against the least the token budget allows, and every HTTP status.
2. The cached share of the aggregator's prompt tokens over a 10-turn conversation (``moa ask -c``
   ten times; the limits raised so that only the prompt cache is measured).
3. One turn's last status line (its cost).

    python benchmarks/free_tier.py [--minute 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from groq_limits import FREE_TIER, Limiter, TierLimits  # noqa: E402
from groq_server import Behavior, GroqServer  # noqa: E402

SPEEDS = {"openai/gpt-oss-120b": 500.0, "openai/gpt-oss-20b": 1000.0, "qwen/qwen3.8-27b": 400.0}
"""Output tokens per second, about Groq's."""


def words(prefix: str, count: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(count))


def moa(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moa_cli", *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)


def environment(server: GroqServer, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
    env.update(GROQ_API_KEY="k", GROQ_BASE_URL=server.base_url, HOME=home,
               XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data")
    return env


def behaviors(answer_words: int) -> dict[str, Behavior]:
    return {m: Behavior(text=words("point", answer_words), tokens_per_second=tps) for m, tps in SPEEDS.items()}


def back_to_back(minute: float) -> None:
    limiter = Limiter(FREE_TIER, minute=minute)
    with GroqServer(behaviors(1200), limits=limiter) as server, tempfile.TemporaryDirectory() as home:
        env = environment(server, home)
        started = time.monotonic()
        runs = [moa(["ask", "--json", f"{n}: " + words("word", 600)], env) for n in ("First", "Second")]
        took = time.monotonic() - started
        for run in runs:
            assert run.returncode == 0, run.stderr
        statuses = [r.status for r in server.requests]
        # The least time: each model's net tokens beyond one full minute, refilled at its rate,
        # plus the time its last answer takes to stream; the slowest model sets it.
        floor = 0.0
        for model, limits in FREE_TIER.items():
            mine = [a for run in runs for a in _agents(run) if a["model"] == model]
            net = sum(a["usage"]["prompt_tokens"] - a["usage"]["cached_tokens"] + a["usage"]["completion_tokens"]
                      for a in mine)
            stream = mine[-1]["usage"]["completion_tokens"] / SPEEDS[model]
            floor = max(floor, max(net - limits.tpm, 0) * minute / limits.tpm + stream)
        waits = [line for run in runs for line in run.stderr.splitlines() if "sending in" in line or "shortened" in line]
        print(f"two questions back to back: {took:.1f}s (least the budget allows: {floor:.1f}s)")
        print(f"  statuses: {statuses}")
        for line in waits:
            print(f"  {line}")


def _agents(run: subprocess.CompletedProcess[str]) -> list[dict]:
    data = json.loads(run.stdout)
    return [*data["references"], data["aggregator"]]


def ten_turns() -> None:
    roomy = Limiter({"*": TierLimits(rpd=10**6, tpm=10**7)})
    with GroqServer(behaviors(300), limits=roomy) as server, tempfile.TemporaryDirectory() as home:
        env = environment(server, home)
        cached = prompt = 0
        for turn in range(1, 11):
            run = moa(["ask", "--json", *(["-c"] if turn > 1 else []), f"Turn {turn}: " + words("ask", 50)], env)
            assert run.returncode == 0, run.stderr
            usage = json.loads(run.stdout)["aggregator"]["usage"]
            cached, prompt = cached + usage["cached_tokens"], prompt + usage["prompt_tokens"]
        print(f"10-turn chat: the aggregator's prompt tokens were {cached / prompt:.0%} cached ({cached:,} of {prompt:,})")
        last = moa(["ask", "-c", "One more: " + words("ask", 50)], env)
        print(f"one turn's last status line: {last.stderr.splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minute", type=float, default=60.0, help="seconds in the emulated minute")
    args = parser.parse_args()
    ten_turns()
    back_to_back(args.minute)


if __name__ == "__main__":
    main()
