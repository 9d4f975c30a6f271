"""The emulated free tier of tests/groq_server.py, through the real ``groq`` SDK."""

from __future__ import annotations

import groq
import pytest
from groq_limits import Limiter, TierLimits, format_reset
from groq_server import Behavior, GroqServer

LONG = "word " * 300


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock):
    limiter = Limiter({"m": TierLimits(rpd=3, tpm=1000), "full": TierLimits(rpd=9, tpm=1000)}, clock=clock)
    behaviors = {"m": Behavior(text="ten words " * 5), "full": Behavior(text=LONG * 9)}
    with GroqServer(behaviors, limits=limiter) as server:
        yield server


@pytest.fixture
def client(server: GroqServer):
    with groq.Groq(api_key="k", base_url=server.base_url, max_retries=0) as client:
        yield client


def ask(client: groq.Groq, content: str = "hello there", max_tokens: int = 100, model: str = "m"):
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], max_tokens=max_tokens
    )


def test_resets_read_like_groqs():
    assert format_reset(7.66) == "7.66s"
    assert format_reset(179.56) == "2m59.56s"
    assert format_reset(3 * 3600 + 61) == "3h1m1s"


def test_every_response_announces_requests_per_day_and_tokens_per_minute(client):
    raw = ask(client)
    headers = raw.headers
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "2"
    assert headers["x-ratelimit-limit-tokens"] == "1000"
    # 2 prompt words + 100 max_tokens reserved when admitted.
    assert headers["x-ratelimit-remaining-tokens"] == "898"
    assert headers["x-ratelimit-reset-tokens"] == format_reset(102 * 60 / 1000)
    assert headers["x-ratelimit-reset-requests"] == "8h0m0s"


def test_a_request_larger_than_the_minute_limit_is_a_413_with_groqs_words(client):
    with pytest.raises(groq.APIStatusError) as info:
        ask(client, LONG, max_tokens=800)
    assert info.value.status_code == 413
    message = info.value.body["error"]["message"]
    assert "on tokens per minute (TPM): Limit 1000, Requested 1100" in message
    assert info.value.response.headers["x-ratelimit-remaining-tokens"] == "1000"


def test_a_request_that_does_not_fit_what_is_left_gets_429_with_retry_after(client, clock):
    ask(client, max_tokens=600, model="full")  # answers that use all of max_tokens
    with pytest.raises(groq.RateLimitError) as info:
        ask(client, max_tokens=500, model="full")
    headers = info.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert "tokens per minute (TPM)" in info.value.body["error"]["message"]
    clock.now += int(headers["retry-after"])
    assert ask(client, max_tokens=500, model="full").http_response.status_code == 200


def test_the_daily_limit_refuses_with_its_reset_time(client):
    for _ in range(3):
        ask(client, max_tokens=10)
    with pytest.raises(groq.RateLimitError) as info:
        ask(client, max_tokens=10)
    assert "requests per day (RPD): Limit 3, Used 3" in info.value.body["error"]["message"]
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_repeated_prompt_prefix_is_cached_and_not_counted(client):
    first = ask(client, LONG + " first", max_tokens=10).parse()
    raw = ask(client, LONG + " second", max_tokens=10)
    second = raw.parse()
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens == 300
    # The second is charged only its 1 uncached prompt token and its 10 max_tokens (all used).
    before = 1000 - (301 + 10)
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) == before - (1 + 10)


def test_models_without_limits_and_servers_without_a_limiter_send_no_headers(clock):
    with GroqServer({"m": Behavior(text="hi")}) as plain:
        with groq.Groq(api_key="k", base_url=plain.base_url) as client:
            assert "x-ratelimit-limit-tokens" not in ask(client).headers
    limiter = Limiter({"other": TierLimits()}, clock=clock)
    with GroqServer({"m": Behavior(text="hi")}, limits=limiter) as limited:
        with groq.Groq(api_key="k", base_url=limited.base_url) as client:
            assert "x-ratelimit-limit-tokens" not in ask(client).headers


def test_streamed_usage_carries_the_cached_tokens(client):
    ask(client, LONG, max_tokens=10)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": LONG + " again"}], max_tokens=10, stream=True
    )
    usages = [c.x_groq.usage for c in stream if c.x_groq and c.x_groq.usage]
    assert usages[-1].prompt_tokens_details.cached_tokens == 300
