"""Benchmarks for ``moa ask``: the real CLI process and the real groq SDK against a local server.

    python benchmarks/bench.py [--quick] [--runs N] [--out PATH] [--src DIR]

Prints one row per measurement (median, target, pass/fail) and writes the table, the machine and
the server profiles to benchmarks/RESULTS.md. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from groq_server import Behavior, GroqServer, RecordedRequest, tokenize  # noqa: E402
from timed_procs import ProcResult, run_piped, run_pty  # noqa: E402

PYTHON = sys.executable
_moa = shutil.which("moa", path=str(Path(PYTHON).parent))
MOA = [_moa] if _moa else [PYTHON, "-m", "moa_cli"]
QUESTION = "Explain quantum entanglement in simple terms"
REFS = ["ref/1", "ref/2", "ref/3", "ref/4"]
AGG = "agg/x"
MODEL_ARGS = [arg for ref in REFS for arg in ("-m", ref)] + ["-a", AGG]
HEAVY_MODULES = ["groq", "httpx", "pydantic", "prompt_toolkit", "rich.markdown"]
REQUEST_STACK = ["groq", "httpx", "asyncio", "moa_cli.providers.router", "moa_cli.engine"]
"""What a command that runs no turn (``moa sessions``, ``moa keys list``) must not import."""

_WORDS = (
    "two particles that interacted share one state so measuring one tells you about the other "
    "however far apart they are yet no signal travels between them"
).split()


def make_text(tokens: int, paragraph: int = 40) -> str:
    """Deterministic prose of exactly ``tokens`` server tokens, a paragraph break every ``paragraph``."""
    words = [_WORDS[i % len(_WORDS)] + (".\n\n" if (i + 1) % paragraph == 0 else " ") for i in range(tokens)]
    return "".join(words).rstrip() + "\n"


def make_markdown(sections: int) -> str:
    """A Markdown answer: headings, paragraphs, a list and a code block per section (~75 tokens each)."""
    body = make_text(40, paragraph=1000).strip()
    part = f"## Part {{n}}\n\n{body}.\n\n- first point\n- second point\n\n```python\nprint({{n}})\n```\n\n"
    return "".join(part.format(n=n) for n in range(1, sections + 1))


# --------------------------------------------------------------------------- rows and stats


@dataclass
class Row:
    name: str
    value: str
    target: str = ""
    ok: bool | None = None
    """None: for information, or skipped."""
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "**FAIL**", None: ""}[self.ok]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 0.001 else f"{seconds * 1000:.1f} ms"


def spread(values: Sequence[float], fmt: Callable[[float], str] = ms) -> str:
    return f"n={len(values)}, {fmt(min(values))} .. {fmt(max(values))}"


# --------------------------------------------------------------------------- the bench


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


@dataclass
class Bench:
    server: GroqServer
    env: dict[str, str]
    tmp: Path
    runs: int
    quick: bool
    profiles: dict[str, dict[str, Behavior]] = dataclasses.field(default_factory=dict)
    load_at_start: str = dataclasses.field(default_factory=load)

    def use(self, name: str, profile: dict[str, Behavior]) -> None:
        """Give the server ``profile`` (model -> behaviour) and keep it for the report."""
        for model, behavior in profile.items():
            self.server.set(model, behavior)
        self.profiles[name] = profile

    def run(
        self, argv: list[str], *, env: dict[str, str] | None = None, pty: bool = False
    ) -> tuple[ProcResult, list[RecordedRequest]]:
        """Run ``argv`` to the end; its result and the requests the server received meanwhile."""
        start = len(self.server.requests)
        full_env = {**self.env, **(env or {})}
        if pty:
            result = run_pty(argv, {**full_env, "TERM": "xterm-256color"}, rows=40, cols=120)
        else:
            result = run_piped(argv, full_env)
        return result.check(), self.server.requests[start:]

    def moa(self, *args: str, **kw) -> tuple[ProcResult, list[RecordedRequest]]:  # type: ignore[no-untyped-def]
        return self.run([*MOA, *args], **kw)


def by_model(requests: list[RecordedRequest], models: Sequence[str]) -> list[RecordedRequest]:
    found = [r for r in requests if r.model in models]
    if len(found) != len(models):
        raise RuntimeError(f"expected one request each for {models}, got {[r.model for r in requests]}")
    return found


def expect_answer(result: ProcResult, text: str) -> None:
    got = result.output.decode()
    if got.strip() != text.strip():
        raise RuntimeError(f"{result.argv[:3]} printed {got[:200]!r}..., expected the aggregator's text")


# --------------------------------------------------------------------------- 1, 2, 6: the pipeline


def pipeline(bench: Bench) -> list[Row]:
    """4 refs + aggregator at 0.25 s TTFT, 400 tok/s, 120 tokens: overheads, wall time vs baseline, RSS."""
    text = make_text(120)
    bench.use("pipeline", {m: Behavior(text=text, first_token_delay=0.25, tokens_per_second=400) for m in [*REFS, AGG]})
    commands = {"moa": [*MOA, "ask", *MODEL_ARGS, QUESTION],
                "base": [PYTHON, str(HERE / "baseline.py"), *MODEL_ARGS, QUESTION]}
    for argv in commands.values():
        bench.run(argv)  # warm-up: page cache, bytecode
    s: dict[str, list[float]] = defaultdict(list)
    for _ in range(bench.runs):
        for who, argv in commands.items():  # alternate, so drift hits both alike
            result, requests = bench.run(argv)
            expect_answer(result, text)
            refs, (agg,) = by_model(requests, REFS), by_model(requests, [AGG])
            refs_done = max(r.last_byte_sent_at for r in refs)  # type: ignore[type-var]
            assert result.first_byte is not None and agg.first_token_sent_at and agg.last_byte_sent_at
            s[f"{who} hop"].append(agg.received_at - refs_done)
            s[f"{who} emit"].append(result.first_byte - agg.first_token_sent_at)
            s[f"{who} ttfat"].append(result.first_byte - result.started)
            s[f"{who} after refs"].append(result.first_byte - refs_done)
            s[f"{who} wall"].append(result.wall)
            s[f"{who} rss"].append(result.maxrss_mb)
            s[f"{who} start-up"].append(min(r.received_at for r in refs) - result.started)
            s[f"{who} wind-down"].append(result.ended - agg.last_byte_sent_at)
    m = {key: median(values) for key, values in s.items()}
    ratio = m["moa wall"] / m["base wall"]
    sec = lambda x: f"{x:.3f} s"  # noqa: E731
    mb = lambda x: f"{x:.1f} MB"  # noqa: E731
    base = lambda key, fmt=ms: f"baseline {fmt(m['base ' + key])}"  # noqa: E731
    return [
        Row("1a last ref byte sent → aggregator request received", ms(m["moa hop"]), "< 20 ms",
            m["moa hop"] < 0.020, f"{spread(s['moa hop'])}; {base('hop')}"),
        Row("1b first aggregator token sent → on moa's stdout", ms(m["moa emit"]), "< 20 ms",
            m["moa emit"] < 0.020, f"{spread(s['moa emit'])}; {base('emit')}"),
        Row("1 first answer byte, from process start", ms(m["moa ttfat"]), "", None, base("ttfat")),
        Row("1 first answer byte, after the slowest ref finished", ms(m["moa after refs"]), "", None,
            f"includes the aggregator's own 0.25 s TTFT; {base('after refs')}"),
        Row("2 wall time `moa ask`", sec(m["moa wall"]), "", None, spread(s["moa wall"], sec)),
        Row("2 wall time baseline.py", sec(m["base wall"]), "", None, spread(s["base wall"], sec)),
        Row("2 moa / baseline wall time", f"{ratio:.3f}", "<= 1.0", ratio <= 1.0),
        Row("2 process start → first request at the server", ms(m["moa start-up"]), "", None, base("start-up")),
        Row("2 aggregator's last byte sent → process exited", ms(m["moa wind-down"]), "", None, base("wind-down")),
        Row("6 peak RSS of `moa ask`", mb(m["moa rss"]), "< 80 MB", m["moa rss"] < 80,
            f"max {mb(max(s['moa rss']))}; {base('rss', mb)}"),
    ]


# --------------------------------------------------------------------------- 3: start-up


def imported_modules(bench: Bench, *args: str) -> set[str]:
    """Every module ``python -X importtime -m moa_cli ARGS`` imports."""
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "moa_cli", *args], capture_output=True, text=True, env=bench.env, check=True
    )
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def startup(bench: Bench) -> list[Row]:
    """`moa --help` / `moa --version` wall time, and the heavy modules they import."""
    n = 5 if bench.quick else 10
    rows = []
    for flag in ("--help", "--version"):
        bench.moa(flag)  # warm-up
        walls = [bench.moa(flag)[0].wall for _ in range(n)]
        rows.append(Row(f"3 `moa {flag}` wall time", ms(median(walls)), "< 150 ms", median(walls) < 0.150,
                        spread(walls)))
    heavy = {flag: imported_modules(bench, flag) & set(HEAVY_MODULES) for flag in ("--help", "--version")}
    found = sorted(set().union(*heavy.values()))
    detail = ", ".join(
        f"{m} {'yes' if any(m in h for h in heavy.values()) else 'no'}" for m in HEAVY_MODULES
    )
    rows.append(Row("3 heavy modules imported by --help / --version", ", ".join(found) or "none", "none",
                    not found, detail))
    for command in (["sessions"], ["keys", "list"]):
        bench.moa(*command)  # warm-up
        walls = [bench.moa(*command)[0].wall for _ in range(n)]
        stack = sorted(imported_modules(bench, *command) & set(REQUEST_STACK))
        rows.append(Row(f"3 `moa {' '.join(command)}` wall time; request stack imported", ms(median(walls)),
                        "none imported", not stack, f"{spread(walls)}; imports {', '.join(stack) or 'none of'} "
                        f"{'/'.join(REQUEST_STACK)}"))
    return rows


# --------------------------------------------------------------------------- 4: rendering on a terminal


def rendering(bench: Bench) -> list[Row]:
    """4 refs streaming 1,000 tok/s for 5 s each, then a Markdown aggregator, on a 40x120 pty."""
    tokens = 1000 if bench.quick else 5000
    ref_text = make_text(tokens)
    agg_text = make_markdown(6)
    profile = {m: Behavior(text=ref_text, tokens_per_second=1000) for m in REFS}
    profile[AGG] = Behavior(text=agg_text, first_token_delay=0.25, tokens_per_second=400)
    bench.use("rendering", profile)
    args = ["ask", "--max-tokens", str(tokens + 1000), *MODEL_ARGS, QUESTION]
    shares, cpus, walls = [], [], []
    for _ in range(1 if bench.quick else min(bench.runs, 3)):
        result, _ = bench.moa(*args, pty=True)
        if b"Part 6" not in result.output:
            raise RuntimeError("the aggregated answer did not reach the terminal")
        shares.append(result.cpu / result.wall)
        cpus.append(result.cpu)
        walls.append(result.wall)
    share = median(shares)
    rows = [
        Row(f"4 CPU of `moa ask` on a 40x120 pty, 4 x {tokens:,} tokens at 1,000 tok/s",
            f"{share:.1%} of a core", "<= 25%", share <= 0.25,
            f"n={len(shares)}, cpu {median(cpus):.2f} s / wall {median(walls):.2f} s"),
    ]
    result, _ = bench.moa(*args[:1], "--json", *args[1:])
    data = json.loads(result.output)
    floor, _ = bench.run([PYTHON, str(HERE / "sdk_floor.py"), "--max-tokens", str(tokens + 1000),
                          *[arg for ref in REFS for arg in ("-m", ref)], QUESTION])
    rows += [
        Row("4 same run, CPU seconds: on the pty / `--json` on a pipe / bare SDK",
            f"{median(cpus):.2f} / {result.cpu:.2f} / {floor.cpu:.2f} s", "", None,
            f"pipe {result.cpu / result.wall:.0%} of {result.wall:.1f} s; bare SDK (sdk_floor.py, references only) "
            f"{floor.cpu / floor.wall:.0%} of {floor.wall:.1f} s"),
    ]
    expected = len(ref_text) * len(REFS) + len(agg_text)
    answers = [r["answer"] for r in data["references"]] + [data["answer"]]
    kept = sum(len(a) for a in answers)
    intact = all(a == ref_text for a in answers[:-1]) and answers[-1] == agg_text
    rows.append(Row("4 text kept (--json, every answer vs the server's text)", f"{kept:,} / {expected:,} chars",
                    "all, identical", intact and kept == expected))
    return rows


# --------------------------------------------------------------------------- 5: stragglers


def stragglers(bench: Bench) -> list[Row]:
    """3 refs like the pipeline's, one ten times slower; straggler_factor 2, then 0 for contrast."""
    text = make_text(120)
    fast = Behavior(text=text, first_token_delay=0.25, tokens_per_second=400)
    slow = Behavior(text=text, first_token_delay=2.5, tokens_per_second=40)
    bench.use("stragglers", {**{m: fast for m in REFS[:3]}, REFS[3]: slow, AGG: fast})
    rows = []
    for factor, runs in ((2, bench.runs), (0, 1 if bench.quick else min(bench.runs, 3))):
        config = bench.tmp / f"straggler-{factor}.toml"
        config.write_text(f"straggler_factor = {factor}\n")
        ratios, walls, ideals, dropped = [], [], [], 0
        for _ in range(runs):
            result, requests = bench.moa("ask", *MODEL_ARGS, QUESTION, env={"MOA_CONFIG": str(config)})
            expect_answer(result, text)
            refs, (agg,) = by_model(requests, REFS), by_model(requests, [AGG])
            layer_start = min(r.received_at for r in refs)
            fast_done = max(r.last_byte_sent_at for r in refs if r.model != REFS[3])  # type: ignore[type-var]
            ideal = (fast_done - layer_start) + (agg.last_byte_sent_at - agg.received_at)  # type: ignore[operator]
            straggler = next(r for r in refs if r.model == REFS[3])
            dropped += straggler.last_byte_sent_at is None or straggler.last_byte_sent_at > agg.received_at
            ratios.append(result.wall / ideal)
            walls.append(result.wall)
            ideals.append(ideal)
        ratio = median(ratios)
        note = f"wall {median(walls):.2f} s vs {median(ideals):.2f} s; straggler left out {dropped}/{runs}"
        if factor:
            rows.append(Row(f"5 straggler, factor {factor}: wall / (fast refs + aggregator)", f"{ratio:.2f}x",
                            "<= 2.5x", ratio <= 2.5 and dropped == runs, note))
        else:
            rows.append(Row("5 straggler, factor 0 (waits for all), same ratio", f"{ratio:.2f}x", "", None, note))
    return rows


# --------------------------------------------------------------------------- 7: history growth


def growth(bench: Bench) -> list[Row]:
    """Time from a stored session of N turns to its turn's reference requests leaving."""
    from growth import session_growth

    return [
        Row(f"7 requests of a turn in a session of {turns:,} turns", f"{ms(median(first))} / {ms(median(last))}",
            "", None, f"history read → 1st / 4th reference request handed to the HTTP client; {spread(last)}")
        for turns, first, last in session_growth(bench.env, make_text, repeats=3 if bench.quick else 9)
    ]


# --------------------------------------------------------------------------- report


MEASUREMENTS = [pipeline, startup, rendering, stragglers, growth]


def machine() -> str:
    cpu = platform.processor() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(rows: list[Row]) -> str:
    lines = ["| measurement | median | target | result | notes |", "|---|---|---|---|---|"]
    lines += [f"| {r.name} | {r.value} | {r.target} | {r.verdict} | {r.note} |" for r in rows]
    return "\n".join(lines)


def profile_json(profiles: dict[str, dict[str, Behavior]]) -> str:
    """The server profiles, as ``tests/groq_server.py --profile`` reads them (texts described, not inlined)."""
    lines = []
    for name, profile in profiles.items():
        lines.append(f"  {json.dumps(name)}: {{")
        for model, behavior in profile.items():
            fields = {k: v for k, v in dataclasses.asdict(behavior).items() if v != getattr(Behavior(), k)}
            if behavior.text is not None:
                fields["text"] = f"<{len(tokenize(behavior.text))} tokens, {len(behavior.text)} chars>"
            lines.append(f"    {json.dumps(model)}: {json.dumps(fields)},")
        lines[-1] = lines[-1].rstrip(",")
        lines.append("  },")
    lines[-1] = lines[-1].rstrip(",")
    return "{\n" + "\n".join(lines) + "\n}"


def report(rows: list[Row], bench: Bench, elapsed: float, args: argparse.Namespace) -> str:
    missed = [r.name for r in rows if r.ok is False]
    return f"""# moa-cli benchmark results

- date: {datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
- machine: {machine()}
- load average (1, 5, 15 min) at the start: {bench.load_at_start}, at the end: {load()}
- moa-cli: {f"`{args.src}` (--src)" if args.src else git_revision()}; command: `{' '.join(MOA)}`
- run: `python benchmarks/bench.py{' --quick' if args.quick else ''} --runs {args.runs}` in {elapsed:.0f} s
- targets missed: {', '.join(missed) if missed else 'none'}

{table(rows)}

Texts are `make_text(n)` / `make_markdown(6)` from `benchmarks/bench.py`: deterministic prose of
exactly n server tokens (a token is a word and its trailing space).

## Server profiles (Behavior fields that differ from the defaults)

```json
{profile_json(bench.profiles)}
```
"""


def compile_bytecode(src: Path | None) -> None:
    """Byte-compile the measured moa_cli, as ``pip install`` does.

    An editable install, or a machine with PYTHONDONTWRITEBYTECODE=1 (this one), would otherwise
    compile every moa_cli module from source on every run: tens of milliseconds that no
    installed moa pays, counted against it and not against the baseline (whose SDK is compiled).
    """
    import importlib.util

    package = (src / "moa_cli") if src else Path(importlib.util.find_spec("moa_cli").origin).parent  # type: ignore[union-attr, arg-type]
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(package)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter streams (~30 s)")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement (default 5, quick 3)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="where to write the report")
    parser.add_argument("--src", type=Path, help="benchmark the moa_cli package in DIR (e.g. an exported commit's src/)")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="moa-bench-") as tmp, GroqServer() as server:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GROQ_", "MOA_", "XDG_"))}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        env.update(
            GROQ_API_KEY="x",
            GROQ_BASE_URL=server.base_url,
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            MOA_HOME=str(home / "moa"),
        )
        if args.src:
            args.src = args.src.resolve()
            sys.path.insert(0, str(args.src))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.src), env.get("PYTHONPATH")]))
        compile_bytecode(args.src)
        bench = Bench(server, env, home, args.runs, args.quick)
        for measure in MEASUREMENTS:
            print(f"... {measure.__doc__.splitlines()[0] if measure.__doc__ else measure.__name__}", file=sys.stderr)
            new = measure(bench)
            for row in new:
                print(f"{row.name:<62} {row.value:>22}  {row.target:>9}  {row.verdict or '-'}", flush=True)
            rows += new
        elapsed = time.perf_counter() - started
        text = report(rows, bench, elapsed, args)
    args.out.write_text(text)
    print(f"\n{table(rows)}\n\nwritten to {args.out} ({elapsed:.0f} s)")
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
