"""``moa keys``: store a provider's API key, and see which providers have one (never the key)."""

from __future__ import annotations

import getpass
import sys

import typer

app = typer.Typer(help="API keys for providers: set, list, rm.", no_args_is_help=True, rich_markup_mode=None)


@app.command("set")
def set_key(provider: str = typer.Argument(..., help="A provider name: groq, openai, openrouter, ...")) -> None:
    """Store PROVIDER's key: typed at a hidden prompt, or read from stdin."""
    from moa_cli.app.providers import key_store
    from moa_cli.config import load_config
    from moa_cli.errors import UsageError

    settings = load_config().settings
    config = settings.providers.get(provider)
    if config is None:
        raise UsageError(f"unknown provider '{provider}'; known: {', '.join(settings.providers)}")
    key = getpass.getpass(f"{provider} API key: ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise UsageError("no key given; nothing stored")
    where = key_store().set(provider, key)
    sys.stderr.write(f"moa: stored the {provider} key in {where}\n")


@app.command("list")
def list_keys() -> None:
    """Show each provider and where its key comes from."""
    from moa_cli.app.providers import key_store
    from moa_cli.config import load_config
    from moa_cli.keys import find_key

    settings = load_config().settings
    store = key_store()
    lines = [f"{name:<12} {find_key(config, store)[1]}\n" for name, config in settings.providers.items()]
    sys.stdout.write("".join(lines))  # all or nothing: an unreadable key file is one error line


@app.command("rm")
def remove_key(provider: str = typer.Argument(..., help="The provider whose stored key to forget.")) -> None:
    """Forget PROVIDER's stored key (an environment variable is yours to unset)."""
    from moa_cli.app.providers import key_store
    from moa_cli.errors import UsageError

    removed = key_store().remove(provider)
    if not removed:
        raise UsageError(f"no stored key for '{provider}'; 'moa keys list' shows where each key comes from")
    sys.stderr.write(f"moa: removed the {provider} key from {' and '.join(removed)}\n")
