"""The pipeline a user would write by hand, to compare ``moa ask`` against.

``python benchmarks/baseline.py -m REF [-m REF ...] -a AGGREGATOR QUESTION``

groq.AsyncGroq (key and base URL from GROQ_API_KEY / GROQ_BASE_URL), the references asked at
once without streaming, then one streamed aggregator call whose text is printed as it arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import groq

PROMPT = "Synthesise these responses into one high-quality answer.\n\n"


async def main(models: list[str], aggregator: str, question: str) -> None:
    client = groq.AsyncGroq()
    ask = [{"role": "user", "content": question}]
    replies = await asyncio.gather(
        *(client.chat.completions.create(model=m, messages=ask) for m in models)  # type: ignore[arg-type]
    )
    answers = "\n\n".join(f"{i}. {r.choices[0].message.content}" for i, r in enumerate(replies, 1))
    stream = await client.chat.completions.create(
        model=aggregator,
        messages=[{"role": "system", "content": PROMPT + answers}, *ask],  # type: ignore[list-item]
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            sys.stdout.write(chunk.choices[0].delta.content)
            sys.stdout.flush()
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-m", dest="models", action="append", required=True)
    parser.add_argument("-a", dest="aggregator", required=True)
    parser.add_argument("question")
    args = parser.parse_args()
    asyncio.run(main(args.models, args.aggregator, args.question))
