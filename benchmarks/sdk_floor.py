"""The CPU floor of streaming through the groq SDK: stream every model at once and discard the text.

``python benchmarks/sdk_floor.py [--max-tokens N] -m MODEL [-m MODEL ...] QUESTION``

bench.py runs it on the rendering profile: whatever moa costs above this is moa's own.
"""

from __future__ import annotations

import argparse
import asyncio

import groq


async def main(models: list[str], question: str, max_tokens: int) -> None:
    client = groq.AsyncGroq()

    async def drain(model: str) -> None:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": question}],
            max_completion_tokens=max_tokens,
            stream=True,
        )
        async for _ in stream:
            pass

    await asyncio.gather(*(drain(m) for m in models))
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-m", dest="models", action="append", required=True)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("question")
    args = parser.parse_args()
    asyncio.run(main(args.models, args.question, args.max_tokens))
