"""The hop between the layers, on a terminal and on a pipe, at 4, 16 and 64 references.

    python benchmarks/hop.py [--runs N] [--refs 4,16,64] [--mode pty,pipe] [--limits]

From the slowest reference's last byte sent by the server to the aggregator's request received
by it: everything moa does between the layers (the layer summary, the panels, building the
aggregator's request). On a pty (40x120) the live panels are drawn; on a pipe nothing is.
Each reference streams 60 tokens after 0.25 s, at 400 tok/s or less (see TOKENS_PER_SECOND).
``--src DIR`` measures another tree's moa_cli (e.g. ``git archive main src | tar -x -C /tmp/old``).
``--limits`` declares a tokens-per-minute limit for every model, as the built-in Groq models have:
moa then keeps ``limits.json`` as it does with Groq (a reservation per request, tokens given back).
Prints the median and spread per (mode, references); goals: <= 15 ms on a pty, <= 10 ms piped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from groq_server import Behavior, GroqServer  # noqa: E402
from timed_procs import run_piped, run_pty  # noqa: E402

PYTHON = sys.executable
_moa = shutil.which("moa", path=str(Path(PYTHON).parent))
MOA = [_moa] if _moa else [PYTHON, "-m", "moa_cli"]
AGG = "agg/x"
GOALS = {"pty": 0.015, "pipe": 0.010}
TOKENS_PER_SECOND = 3200
"""The references' combined rate (each at most 400 tok/s): one moa keeps up with it on a shared
core, so the hop is moa's work between the layers and not a reading backlog."""


def bench_env(server: GroqServer, home: Path, limited: tuple[str, ...] = ()) -> dict[str, str]:
    """moa's environment: the server, a throwaway home, no inherited terminal size; ``limited``
    models get a (generous) declared tokens-per-minute limit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(GROQ_API_KEY="x", GROQ_BASE_URL=server.base_url, XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), MOA_HOME=str(home / "moa"), TERM="xterm-256color",
               MOA_CONFIG=str(home / "hop.toml"))
    config = "straggler_factor = 0\n"  # every reference counts: one end to measure from
    config += "".join(f'[models."{model}"]\ntpm = 10000000\n' for model in limited)
    (home / "hop.toml").write_text(config)
    return env


def hops(server: GroqServer, env: dict[str, str], refs: int, mode: str, runs: int) -> list[tuple[float, float]]:
    """``runs`` hops of ``moa ask`` with ``refs`` references, on a pty or a pipe, each with moa's CPU seconds."""
    models = [f"ref/{i}" for i in range(1, refs + 1)]
    text = " ".join(["word"] * 60)
    rate = min(400.0, TOKENS_PER_SECOND / refs)
    for model in models:
        server.set(model, Behavior(text=text, first_token_delay=0.25, tokens_per_second=rate))
    server.set(AGG, Behavior(text=text, first_token_delay=0.25, tokens_per_second=400))
    argv = [*MOA, "ask", "--max-tokens", "1000", *[a for m in models for a in ("-m", m)], "-a", AGG,
            "why is the sky blue"]
    out = []
    for run in range(runs + 1):  # the first run warms the page cache
        start = len(server.requests)
        proc = (run_pty(argv, env, rows=40, cols=120) if mode == "pty" else run_piped(argv, env)).check()
        requests = server.requests[start:]
        agg = [r for r in requests if r.model == AGG]
        done = [r.last_byte_sent_at for r in requests if r.model != AGG]
        if len(agg) != 1 or len(done) != refs or None in done:
            raise RuntimeError(f"expected {refs} references and one aggregator, got {[r.model for r in requests]}")
        if run:
            out.append((agg[0].received_at - max(done), proc.cpu))  # type: ignore[operator]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--refs", default="4,16,64")
    parser.add_argument("--mode", default="pty,pipe")
    parser.add_argument("--src", type=Path, help="measure the moa_cli package in DIR")
    parser.add_argument("--limits", action="store_true", help="declare a tokens-per-minute limit for every model")
    args = parser.parse_args(argv)
    missed = 0
    with tempfile.TemporaryDirectory(prefix="moa-hop-") as tmp, GroqServer() as server:
        most = max(map(int, args.refs.split(",")))
        limited = (*(f"ref/{i}" for i in range(1, most + 1)), AGG) if args.limits else ()
        env = bench_env(server, Path(tmp), limited)
        if args.src:
            env["PYTHONPATH"] = str(args.src.resolve())
        print(f"{'mode':<5} {'refs':>4} {'median':>9} {'min':>8} {'max':>8}  {'cpu':>6}  goal")
        for mode in args.mode.split(","):
            for refs in map(int, args.refs.split(",")):
                measured = hops(server, env, refs, mode, args.runs)
                values = [hop for hop, _ in measured]
                cpu = statistics.median(cpu for _, cpu in measured)
                m = statistics.median(values)
                ok = m <= GOALS[mode]
                missed += not ok
                print(f"{mode:<5} {refs:>4} {m * 1000:>7.1f}ms {min(values) * 1000:>6.1f}ms "
                      f"{max(values) * 1000:>6.1f}ms  {cpu:>5.2f}s  {'pass' if ok else 'MISS'} (<= {GOALS[mode] * 1000:.0f} ms)",
                      flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
