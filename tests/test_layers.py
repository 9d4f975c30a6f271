"""The layers stay apart: library modules import without side effects, and faces sit on top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_moa
from groq_server import GroqServer

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moa_cli"


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_library_modules_import_with_the_gc_on_and_without_typer() -> None:
    library = [name for name in _modules() if not name.startswith(("moa_cli.cli", "moa_cli.__main__"))]
    code = (
        "import gc, importlib, sys\n"
        f"for name in {library!r}:\n"
        "    importlib.import_module(name)\n"
        "print(gc.isenabled(), 'typer' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"]


def test_importing_the_cli_package_has_no_side_effects() -> None:
    code = "import gc, sys, moa_cli.cli; print(gc.isenabled(), 'typer' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["True", "False"], proc.stderr


def test_only_the_cli_imports_the_cli() -> None:
    offenders = {
        name
        for name, tree in _modules().items()
        if not name.startswith(("moa_cli.cli", "moa_cli.__main__"))
        and any(imported.startswith("moa_cli.cli") for imported in _imports(tree))
    }
    assert offenders == set()


def test_providers_never_look_up_keys_themselves() -> None:
    offenders = {
        name
        for name, tree in _modules().items()
        if name.startswith("moa_cli.providers") and "moa_cli.keys" in _imports(tree)
    }
    assert offenders == set()


def test_a_header_declared_for_groq_in_the_config_reaches_the_server(
    groq_server: GroqServer, moa_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config" / "moa" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[providers.groq]\nheaders = { "x-team" = "blue" }\n', encoding="utf-8")
    proc = run_moa(["ask", "-m", "ref/a", "-a", "agg/x", "q"], moa_env)
    assert proc.returncode == 0, proc.stderr
    assert {r.headers.get("x-team") for r in groq_server.requests} == {"blue"}


@pytest.mark.parametrize("command", [["sessions"], ["keys", "list"]])
def test_commands_that_run_no_turn_do_not_import_the_request_stack(
    moa_env: dict[str, str], command: list[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "moa_cli", *command],
        capture_output=True, text=True, env=moa_env, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert imported & {"groq", "httpx", "asyncio", "moa_cli.providers.router", "moa_cli.engine"} == set()
