"""Rate limits learned from headers, kept in the data directory, shared by processes; and declared in config."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
import stat
from pathlib import Path

import pytest

from moa_cli.config import load_config
from moa_cli.errors import ConfigError
from moa_cli.limits import DAY, MINUTE, LimitsBook, ModelLimits, Window, observe_headers, parse_duration

GROQ_HEADERS = {
    "x-ratelimit-limit-requests": "1000",
    "x-ratelimit-remaining-requests": "999",
    "x-ratelimit-reset-requests": "1m26.4s",
    "x-ratelimit-limit-tokens": "8000",
    "x-ratelimit-remaining-tokens": "6000",
    "x-ratelimit-reset-tokens": "15s",
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7.66s", 7.66), ("2m59.56s", 179.56), ("1h2m3s", 3723.0), ("250ms", 0.25), ("12", 12.0), ("soon", None)],
)
def test_resets_are_read_in_every_form_groq_and_openai_send(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_groq_headers_give_tokens_per_minute_and_requests_per_day():
    limits = observe_headers(ModelLimits(), GROQ_HEADERS, DAY, now=100.0)
    assert limits.tokens == Window(8000, 6000.0, 100.0, 2000 / 15)
    assert limits.requests is not None and limits.requests.limit == 1000
    assert limits.requests.rate == pytest.approx(1 / 86.4)
    assert limits.rpm is None


def test_openai_style_requests_are_per_minute():
    limits = observe_headers(ModelLimits(), GROQ_HEADERS, MINUTE, now=0.0)
    assert limits.rpm is not None and limits.requests is None


def test_a_response_without_headers_changes_nothing():
    known = ModelLimits(token_ratio=0.5)
    assert observe_headers(known, {"content-type": "text/event-stream"}, DAY, now=0.0) is known


def test_a_window_refills_to_full_exactly_when_announced():
    window = Window.announced(8000, 2000, 30.0, MINUTE, now=0.0)
    assert window.available(15.0) == pytest.approx(5000)
    assert window.available(31.0) == 8000
    assert window.wait_for(5000, now=0.0) == pytest.approx(15.0)
    assert window.wait_for(9000, now=0.0) == float("inf")
    taken = window.take(1000, now=15.0)
    assert taken.available(15.0) == pytest.approx(4000)
    assert taken.give(10_000, now=15.0).available(15.0) == 8000


def test_the_book_survives_the_run_in_a_private_file(tmp_path: Path):
    path = tmp_path / "moa" / "limits.json"
    book = LimitsBook(path)
    book.update("m", lambda known: observe_headers(known, GROQ_HEADERS, DAY, now=5.0))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LimitsBook(path).get("m").tokens == Window(8000, 6000.0, 5.0, 2000 / 15)


def test_a_damaged_book_is_read_as_empty_and_rewritten(tmp_path: Path):
    path = tmp_path / "limits.json"
    path.write_text("{not json")
    book = LimitsBook(path)
    assert book.get("m") == ModelLimits()
    book.update("m", lambda known: ModelLimits(token_ratio=0.4))
    assert LimitsBook(path).get("m").token_ratio == 0.4


def _take_many(path: str, count: int) -> None:
    book = LimitsBook(Path(path))
    for _ in range(count):
        book.update("m", lambda k: ModelLimits(tokens=k.tokens.take(1, now=k.tokens.at)))  # type: ignore[union-attr]


def test_two_processes_share_one_budget_without_losing_a_reservation(tmp_path: Path):
    path = tmp_path / "limits.json"
    LimitsBook(path).update("m", lambda k: ModelLimits(tokens=Window(10_000, 10_000.0, 0.0, 0.0)))
    workers = [multiprocessing.Process(target=_take_many, args=(str(path), 100)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert LimitsBook(path).get("m").tokens.remaining == 9800  # type: ignore[union-attr]


def _give(amount: float):
    return lambda k: replace(k, tokens=k.tokens.give(amount, now=k.tokens.at))  # type: ignore[union-attr]


def test_a_change_held_for_later_counts_here_at_once_and_is_shared_on_flush(tmp_path: Path):
    path = tmp_path / "limits.json"
    book = LimitsBook(path)
    book.update("m", lambda k: ModelLimits(tokens=Window(10_000, 1_000.0, 0.0, 0.0)))
    book.update_later("m", _give(500))
    assert book.get("m").tokens.remaining == 1_500  # type: ignore[union-attr]
    assert LimitsBook(path).get("m").tokens.remaining == 1_000  # type: ignore[union-attr]
    book.flush()
    assert LimitsBook(path).get("m").tokens.remaining == 1_500  # type: ignore[union-attr]


def test_a_held_change_lands_on_what_another_process_wrote_meanwhile(tmp_path: Path):
    path = tmp_path / "limits.json"
    mine, other = LimitsBook(path), LimitsBook(path)
    mine.update("m", lambda k: ModelLimits(tokens=Window(10_000, 1_000.0, 0.0, 0.0)))
    mine.update_later("m", _give(500))
    other.update("m", lambda k: replace(k, tokens=k.tokens.take(300, now=0.0)))  # type: ignore[union-attr]
    assert mine.get("m").tokens.remaining == 1_200  # type: ignore[union-attr]
    mine.update("n", lambda k: ModelLimits(token_ratio=0.5))  # writes the held change with its own
    assert LimitsBook(path).get("m").tokens.remaining == 1_200  # type: ignore[union-attr]
    assert LimitsBook(path).get("n").token_ratio == 0.5


def test_config_declares_limits_effort_and_price_per_model(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[models."ollama:llama3.2"]\ntpm = 5000\nrpm = 20\ncontext_window = 8192\n'
        'reasoning_effort = "low"\nprice = [0.1, 0.05, 0.2]\n'
    )
    declared = load_config(path).settings.models["ollama:llama3.2"]
    assert (declared.tpm, declared.rpm, declared.context_window) == (5000, 20, 8192)
    assert declared.reasoning_effort == "low" and declared.price == (0.1, 0.05, 0.2)


def test_a_bad_model_limit_names_the_key_and_line(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('layers = 1\n[models."m"]\ntpm = 0\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "config.toml:3: 'models.m.tpm' must be an integer >= 1" in str(info.value)


def test_config_changes_only_the_keys_it_sets_over_the_built_in_models(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[models."openai/gpt-oss-120b"]\ntpm = 8000\n')
    declared = load_config(path).settings.models["openai/gpt-oss-120b"]
    assert declared.tpm == 8000 and declared.price == (0.15, 0.075, 0.60)


async def test_the_groq_provider_reports_every_responses_headers_and_cached_tokens():
    from groq_limits import Limiter, TierLimits
    from groq_server import Behavior, GroqServer

    from moa_cli.errors import ProviderError
    from moa_cli.events import Usage
    from moa_cli.providers.base import ChatCall
    from moa_cli.providers.groq import GroqProvider
    from moa_cli.providers.registry import BUILTIN_PROVIDERS
    from moa_cli.request import Message

    seen: list[tuple[dict[str, str], float]] = []
    limiter = Limiter({"m": TierLimits(rpd=10, tpm=500)})
    with GroqServer({"m": Behavior(text="fine")}, limits=limiter) as server:
        config = replace(BUILTIN_PROVIDERS["groq"], base_url=server.base_url)
        provider = GroqProvider(config, api_key="k", timeout=10)
        question = (Message("user", "word " * 100),)
        call = ChatCall("m", question, 0.7, 50, on_headers=lambda h, period: seen.append((dict(h), period)))
        usages = [c for _ in range(2) async for c in provider.stream(call) if isinstance(c, Usage)]
        with pytest.raises(ProviderError) as info:
            async for _ in provider.stream(ChatCall("m", question, 0.7, 450, on_headers=call.on_headers)):
                pass
        await provider.aclose()
    assert info.value.kind == "too_large"
    assert [h["x-ratelimit-limit-tokens"] for h, _ in seen] == ["500"] * 3
    assert {period for _, period in seen} == {DAY}
    assert [u.cached_tokens for u in usages] == [0, 100]
