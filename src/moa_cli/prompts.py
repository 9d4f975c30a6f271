"""The messages each agent receives: references see the conversation, the aggregator also sees answers.

The aggregation prompt follows the "aggregate-and-synthesize" prompt of the Mixture-of-Agents
paper (Wang et al. 2024, table 1), with two additions users asked for: keep the format the question
asks for, and never mention that several models answered.

Every request starts with the same messages: the system prompt, the conversation so far and the
question. The answers, when a request carries them, come last, in a message of their own. So the
aggregator's request repeats the references' requests word for word up to the question, and each
turn's requests repeat the last turn's: providers that cache prompt prefixes (Groq, OpenAI) serve
that part from their cache, at half the price and outside the rate limits.
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


def answers_message(answers: Sequence[str]) -> Message:
    """The message after the question that gives the aggregator (or a later layer) the ``answers``."""
    numbered = "\n\n".join(f"{i}. {answer.strip()}" for i, answer in enumerate(answers, 1))
    return Message("system", f"{AGGREGATE_PROMPT}\n\n{numbered}")


def build_messages(
    question: str,
    history: Sequence[Message],
    system: str | None,
    answers: Sequence[str] = (),
) -> tuple[Message, ...]:
    """The full message list: system prompt, history, the question, then the ``answers`` if any."""
    head = (Message("system", system),) if system and system.strip() else ()
    tail = (answers_message(answers),) if answers else ()
    return (*head, *history, Message("user", question), *tail)
