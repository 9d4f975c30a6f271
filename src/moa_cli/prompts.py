"""The messages each agent receives: references see the conversation, the aggregator also sees answers.

The aggregation prompt follows the "aggregate-and-synthesize" prompt of the Mixture-of-Agents
paper (Wang et al. 2024, table 1), with two additions users asked for: keep the format the question
asks for, and never mention that several models answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from moa_cli.request import Message

AGGREGATE_PROMPT = """\
You have been provided with a set of responses from various models to the latest user query. \
Your task is to synthesize these responses into a single, high-quality response. It is crucial \
to critically evaluate the information provided in these responses, recognizing that some of it \
may be biased or incorrect. Compare the responses, keep what is correct and well supported, and \
discard what is wrong. Your response should not simply replicate the given answers but should \
offer a refined, accurate, and comprehensive reply to the instruction. Ensure your response is \
well-structured, coherent, and adheres to the highest standards of accuracy and reliability. \
Follow any format the user asked for. Answer the user directly: do not mention these responses, \
the models, or that several answers were combined.

Responses from models:"""


INTERRUPTED = "\n\n[The user stopped this answer here.]"
"""Ends an interrupted answer when it goes back to the models, so they know it is cut short."""


def as_history(answer: str, status: str) -> str:
    """An answer as the assistant's message in the history sent back to the models."""
    return answer + INTERRUPTED if status == "interrupted" else answer


def with_references(system: str | None, answers: Sequence[str]) -> str:
    """A system prompt carrying ``answers`` as auxiliary context, after the user's own ``system``."""
    numbered = "\n\n".join(f"{i}. {answer.strip()}" for i, answer in enumerate(answers, 1))
    prompt = f"{AGGREGATE_PROMPT}\n\n{numbered}"
    return f"{system.strip()}\n\n{prompt}" if system and system.strip() else prompt


def build_messages(
    question: str,
    history: Sequence[Message],
    system: str | None,
    answers: Sequence[str] = (),
) -> tuple[Message, ...]:
    """The full message list: system prompt (with ``answers`` if any), history, then the question."""
    prompt = with_references(system, answers) if answers else system
    head = (Message("system", prompt),) if prompt else ()
    return (*head, *history, Message("user", question))
