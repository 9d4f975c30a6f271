"""Many requests at once on kept connections: a second layer, or a chat's next turn.

    python benchmarks/kept_burst.py [--refs 8,16,32,64] [--src DIR]

Through moa's Groq provider (the real groq SDK client, moa's network backend and pool pass),
against ``tests/groq_server.py`` in a process of its own (in this one, its threads would take the
GIL from the client). For each N: N requests at once on new connections, then twice on the
connections those left in the pool. Prints when the first and the last response headers arrived,
from the moment the requests were started: the spread is what the client spends getting them out.
Measured with httpcore 1.0.9's own pool pass at 64: 264-1,352 ms on kept connections; with
``providers/pool_pass.py``: 99-412 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def burst(provider: object, n: int) -> tuple[float, float]:
    """Seconds from the start to the first and the last response headers of ``n`` requests at once."""
    from moa_cli.providers.base import ChatCall, Sent
    from moa_cli.request import Message

    start, arrived = time.perf_counter(), []

    async def one(i: int) -> None:
        call = ChatCall(f"ref/{i}", (Message("user", "word " * 200),), 0.7, 50)
        async for chunk in provider.stream(call):  # type: ignore[attr-defined]
            if isinstance(chunk, Sent):
                arrived.append(time.perf_counter() - start)

    await asyncio.gather(*(one(i) for i in range(n)))
    return min(arrived), max(arrived)


async def measure(url: str, sizes: list[int]) -> None:
    from moa_cli.providers.groq import GroqProvider
    from moa_cli.providers.registry import BUILTIN_PROVIDERS

    for n in sizes:
        provider = GroqProvider(replace(BUILTIN_PROVIDERS["groq"], base_url=url), api_key="x", timeout=30)
        rows = [(name, await burst(provider, n)) for name in ("new connections", "kept", "kept again")]
        await provider.aclose()
        print(f"{n:3d} requests: " + "; ".join(f"{name} {1000 * a:.0f}-{1000 * b:.0f} ms" for name, (a, b) in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs", default="8,16,32,64")
    parser.add_argument("--src", help="another tree's src/ (git archive HEAD src | tar -x -C /tmp/old)")
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.json"
        profile.write_text(json.dumps({"*": {"text": "ok", "first_token_delay": 0.3}}))
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "groq_server.py"), "--port", "0", "--profile", str(profile)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split()[-1]  # "READY http://127.0.0.1:PORT"
            asyncio.run(measure(url, [int(n) for n in args.refs.split(",")]))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
