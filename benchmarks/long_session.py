"""A long session costs no more to continue than a new one: start-up, and the requests of a turn.

    python benchmarks/long_session.py [--runs N] [--turns 1000] [--sizes 10,100,1000] [--src DIR]

1. Start to first request: ``moa ask -c`` on a session of ``--turns`` turns (built with moa's own
   ``Store`` API, each a 20-token question and a 300-token answer) against ``moa ask`` starting a
   new session, run alternately (paired) against ``tests/groq_server.py``: from process start to
   the first request the server received, and to the last reference request. The new session
   runs on a copy of the same database, so both open a file of the same size. Goal: the long
   session within 10 ms of the new one (medians).
2. Per-turn request build, in process, for sessions of 10, 100 and 1,000 turns (``growth.py``,
   also row 7 of ``bench.py``): from ``Conversation`` reading the history out of the store to
   the 1st and the 4th reference request handed to the HTTP client (moa's ``--verbose`` request
   hook), through the real provider and the groq SDK's client, the server in a process of its own.

``--src DIR`` measures another tree's moa_cli (``git archive HEAD src | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from growth import AGG, QUESTION, REFS, fill_session, session_growth  # noqa: E402
from groq_server import Behavior, GroqServer  # noqa: E402
from timed_procs import run_piped  # noqa: E402

PYTHON = sys.executable
_moa = shutil.which("moa", path=str(Path(PYTHON).parent))
MOA = [_moa] if _moa else [PYTHON, "-m", "moa_cli"]
MODEL_ARGS = [arg for ref in REFS for arg in ("-m", ref)] + ["-a", AGG]
GOAL = 0.010


def make_text(tokens: int) -> str:
    from bench import make_text as text

    return text(tokens)


def bench_env(server: GroqServer, home: Path) -> dict[str, str]:
    """moa's environment: the server, a throwaway home, no inherited terminal size."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(GROQ_API_KEY="x", GROQ_BASE_URL=server.base_url, XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), MOA_HOME=str(home / "moa"))
    return env


# --------------------------------------------------------------------------- 1: process start


def start_to_request(server: GroqServer, tmp: Path, turns: int, runs: int) -> dict[str, list[float]]:
    """Paired runs of ``ask -c`` on a ``turns``-turn session and ``ask`` in a new session."""
    long_home, new_home = tmp / "long", tmp / "new"
    long_env, new_env = bench_env(server, long_home), bench_env(server, new_home)
    fill_session(long_env, turns, make_text)
    shutil.copytree(long_home, new_home)  # the same file, so both open a database of the same size
    commands = {"long": ([*MOA, "ask", "-c", *MODEL_ARGS, QUESTION], long_env),
                "new": ([*MOA, "ask", *MODEL_ARGS, QUESTION], new_env)}
    samples: dict[str, list[float]] = {f"{who} {what}": [] for who in commands for what in ("first", "refs", "cpu")}
    for run in range(runs + 1):  # the first round warms the page cache and bytecode
        for who, (argv, env) in sorted(commands.items(), reverse=run % 2 == 1):  # each goes first in turn
            start = len(server.requests)
            result = run_piped(argv, env).check()
            requests = [r for r in server.requests[start:] if r.model in REFS]
            if len(requests) != len(REFS):
                raise RuntimeError(f"{who}: expected {len(REFS)} reference requests, got {len(requests)}")
            if run:
                samples[f"{who} first"].append(min(r.received_at for r in requests) - result.started)
                samples[f"{who} refs"].append(max(r.received_at for r in requests) - result.started)
                samples[f"{who} cpu"].append(result.cpu)
            if who == "long" and len(requests[0].messages) < 3:
                raise RuntimeError("ask -c sent no history: the long session was not continued")
    return samples


# --------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(values: list[float]) -> str:
    return f"n={len(values)}, {ms(min(values))} .. {ms(max(values))}"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="paired runs of the CLI (default 9)")
    parser.add_argument("--turns", type=int, default=1000, help="turns of the long session (default 1000)")
    parser.add_argument("--sizes", default="10,100,1000", help="session sizes for the per-turn build")
    parser.add_argument("--repeats", type=int, default=9, help="turns built per size (default 9)")
    parser.add_argument("--src", type=Path, help="measure the moa_cli package in DIR")
    parser.add_argument("--skip", choices=["cli", "build"], help="leave one measurement out")
    args = parser.parse_args(argv)
    if args.src:
        args.src = args.src.resolve()
        sys.path.insert(0, str(args.src))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.src), os.environ.get("PYTHONPATH")]))
    package = Path(__import__("moa_cli").__file__).parent
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(package)], check=True)
    print(f"moa_cli from {package}; load {load()}")
    fast = Behavior(text=make_text(8))
    ok = True
    with tempfile.TemporaryDirectory(prefix="moa-long-") as tmp, GroqServer(default=fast) as server:
        if args.skip != "cli":
            s = start_to_request(server, Path(tmp), args.turns, args.runs)
            m = {key: statistics.median(values) for key, values in s.items()}
            diff = statistics.median(a - b for a, b in zip(s["long first"], s["new first"]))
            ok = diff <= GOAL
            print(f"start -> first request, {args.turns:,}-turn session: {ms(m['long first'])} ({spread(s['long first'])})")
            print(f"start -> first request, new session:        {ms(m['new first'])} ({spread(s['new first'])})")
            print(f"  paired difference (median): {ms(diff)}; goal <= {ms(GOAL)}: {'pass' if ok else 'FAIL'}")
            print(f"start -> last reference request: long {ms(m['long refs'])}, new {ms(m['new refs'])}")
            cpu = statistics.median(a - b for a, b in zip(s["long cpu"], s["new cpu"]))
            print(f"CPU of the whole run (user+sys): long {ms(m['long cpu'])}, new {ms(m['new cpu'])}; "
                  f"paired difference {ms(cpu)} (less moved by the load than wall times)")
        if args.skip != "build":
            sizes = tuple(int(x) for x in args.sizes.split(","))
            env = bench_env(server, Path(tmp) / "growth")
            for size, first, last in session_growth(env, make_text, args.repeats, sizes):
                print(f"per-turn build, {size:>5,} turns: 1st request {ms(statistics.median(first))} "
                      f"({spread(first)}), 4th {ms(statistics.median(last))} ({spread(last)})")
    print(f"load at the end {load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
