"""Benchmarks for ``moa serve``: start-up, first-token latency against ``moa ask``, and 50 streams' CPU.

    python benchmarks/serve_bench.py [--runs N] [--streams N]

Everything is real: the ``moa serve`` and ``moa ask`` processes, the groq SDK inside them, and
tests/groq_server.py in this process, whose ``perf_counter`` stamps compare with ours. The client
is raw httpx, stamping the first bytes of the answer as they arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from bench import AGG, MOA, QUESTION, REFS, by_model, load, make_text, ms  # noqa: E402
from groq_server import Behavior, GroqServer  # noqa: E402
from timed_procs import run_piped  # noqa: E402

REFERENCES = REFS[:3]
CONFIG = f'references = {json.dumps(REFERENCES)}\naggregator = "{AGG}"\n'


def environment(tmp: Path, server: GroqServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
    (tmp / "config" / "moa").mkdir(parents=True, exist_ok=True)
    (tmp / "config" / "moa" / "config.toml").write_text(CONFIG)
    env.update(GROQ_API_KEY="x", GROQ_BASE_URL=server.base_url, XDG_CONFIG_HOME=str(tmp / "config"),
               XDG_DATA_HOME=str(tmp / "data"), HOME=str(tmp))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], float, float]:
    """Start ``moa serve``; it, and the seconds from process start to the first accepted connection
    and to the ``serving on`` line."""
    started = time.perf_counter()
    proc = subprocess.Popen([*MOA, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    deadline = started + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            accepted = time.perf_counter() - started
            break
        except OSError:
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise RuntimeError("moa serve did not start") from None
            time.sleep(0.001)  # polling the port is the measurement itself
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    announced = time.perf_counter() - started
    if not re.match(r"moa: serving on http://", line):
        raise RuntimeError(f"unexpected first line: {line!r}")
    return proc, accepted, announced


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def startup(env: dict[str, str], runs: int) -> None:
    accepted, announced = [], []
    for _ in range(runs):
        proc, a, b = start_serve(env, free_port())
        stop(proc)
        accepted.append(a)
        announced.append(b)
    print(f"start-up: process start → accepting connections {ms(statistics.median(accepted))} "
          f"(n={runs}, {ms(min(accepted))} .. {ms(max(accepted))}); → 'serving on' line "
          f"{ms(statistics.median(announced))}")


def stream_once(url: str) -> tuple[float, float, str]:
    """One streamed request: (sent at, first answer bytes at, whole body)."""
    body = {"model": "moa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.Client(timeout=30) as client:
        sent = time.perf_counter()
        first = 0.0
        parts = []
        with client.stream("POST", url + "/chat/completions", json=body) as response:
            for data in response.iter_bytes():
                if not first:
                    first = time.perf_counter()
                parts.append(data)
    return sent, first, b"".join(parts).decode()


def latency(env: dict[str, str], server: GroqServer, runs: int) -> None:
    """First-token latency: the server's first aggregator token → the client, ``serve`` against ``ask``."""
    text = make_text(120)
    for model in [*REFERENCES, AGG]:
        server.set(model, Behavior(text=text, first_token_delay=0.25, tokens_per_second=400))
    port = free_port()
    proc, _, _ = start_serve(env, port)
    url = f"http://127.0.0.1:{port}/v1"
    samples: dict[str, list[float]] = {k: [] for k in ("serve emit", "ask emit", "serve hop", "ask hop", "serve in", "ask in")}
    try:
        stream_once(url)  # warm-up
        run_piped([*MOA, "ask", QUESTION], env)
        for _ in range(runs):
            start = len(server.requests)
            sent, first, body = stream_once(url)
            if json.dumps(text)[1:-1][:40] not in body:
                raise RuntimeError("the streamed answer is not the aggregator's text")
            refs, (agg,) = by_model(server.requests[start:], REFERENCES), by_model(server.requests[start:], [AGG])
            samples["serve emit"].append(first - agg.first_token_sent_at)  # type: ignore[operator]
            samples["serve hop"].append(agg.received_at - max(r.last_byte_sent_at for r in refs))  # type: ignore[type-var]
            samples["serve in"].append(min(r.received_at for r in refs) - sent)
            start = len(server.requests)
            result = run_piped([*MOA, "ask", QUESTION], env).check()
            refs, (agg,) = by_model(server.requests[start:], REFERENCES), by_model(server.requests[start:], [AGG])
            samples["ask emit"].append(result.first_byte - agg.first_token_sent_at)  # type: ignore[operator]
            samples["ask hop"].append(agg.received_at - max(r.last_byte_sent_at for r in refs))  # type: ignore[type-var]
            samples["ask in"].append(min(r.received_at for r in refs) - result.started)
    finally:
        stop(proc)
    m = {k: statistics.median(v) for k, v in samples.items()}
    print(f"first aggregator token sent → client: serve {ms(m['serve emit'])}, ask (stdout) {ms(m['ask emit'])}; "
          f"difference {ms(abs(m['serve emit'] - m['ask emit']))} (n={runs})")
    print(f"last reference byte → aggregator request: serve {ms(m['serve hop'])}, ask {ms(m['ask hop'])}")
    print(f"request → first reference request received: serve {ms(m['serve in'])} (from the client's request); "
          f"ask {ms(m['ask in'])} (from process start)")


async def _streams(url: str, n: int) -> list[str]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        async def one(i: int) -> str:
            body = {"model": "moa", "stream": True, "messages": [{"role": "user", "content": f"{QUESTION} {i}"}]}
            async with client.stream("POST", url + "/chat/completions", json=body) as response:
                return "".join([part async for part in response.aiter_text()])

        return await asyncio.gather(*(one(i) for i in range(n)))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrency(env: dict[str, str], server: GroqServer, n: int) -> None:
    """``n`` clients streaming at once: references 200 tokens at 200 tok/s, the aggregator 1,000 at 200 tok/s."""
    for model in REFERENCES:
        server.set(model, Behavior(text=make_text(200), tokens_per_second=200))
    server.set(AGG, Behavior(text=make_text(1000), tokens_per_second=200))
    port = free_port()
    proc, _, _ = start_serve(env, port)
    try:
        before, started = cpu_seconds(proc.pid), time.perf_counter()
        bodies = asyncio.run(_streams(f"http://127.0.0.1:{port}/v1", n))
        wall, cpu = time.perf_counter() - started, cpu_seconds(proc.pid) - before
    finally:
        stop(proc)
    done = sum(body.rstrip().endswith("data: [DONE]") for body in bodies)
    print(f"{n} concurrent streams ({n * 4} upstream streams, {n * 1600:,} tokens in): {done}/{n} complete in "
          f"{wall:.2f} s; moa serve CPU {cpu:.2f} s = {cpu / wall:.0%} of one core over the run "
          f"({cpu / n * 1000:.0f} ms per answer)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    print(f"load average at start: {load()}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp, GroqServer() as server:
        env = environment(Path(tmp), server)
        startup(env, args.runs)
        latency(env, server, args.runs)
        concurrency(env, server, args.streams)
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
