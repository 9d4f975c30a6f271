"""Deltas that arrive in one read are merged, and none is lost when the stream then fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moa_cli.errors import ProviderError
from moa_cli.events import Usage
from moa_cli.providers.base import Chunk, Delta
from moa_cli.providers.sdk import merge_deltas


def test_runs_of_the_same_kind_are_joined_in_order() -> None:
    chunks: list[Chunk] = [
        Delta("reasoning", "hm "), Delta("reasoning", "ok"), Delta("text", "a "), Delta("text", "b"), Usage(1, 2),
    ]
    assert list(merge_deltas(chunks)) == [Delta("reasoning", "hm ok", 2), Delta("text", "a b", 2), Usage(1, 2)]


def test_text_before_an_error_is_still_delivered() -> None:
    def failing() -> Iterator[Chunk]:
        yield Delta("text", "kept ")
        yield Delta("text", "too")
        raise ProviderError("m: stopped", kind="stream", model="m")

    out: list[Chunk] = []
    with pytest.raises(ProviderError):
        for chunk in merge_deltas(failing()):
            out.append(chunk)
    assert out == [Delta("text", "kept too", 2)]
