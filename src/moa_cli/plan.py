"""``--dry-run``: every request a run would send, built by the engine's own prompt code, sent nowhere.

Answers that do not exist yet appear as ``<answer of MODEL>`` placeholders; token counts are
estimates, with the room those answers may take counted apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moa_cli.context import estimate_tokens
from moa_cli.keys import KeyStore, find_key
from moa_cli.prompts import AGGREGATE_PROMPT, build_messages
from moa_cli.providers.registry import ProviderConfig, split_model
from moa_cli.request import MoaRequest, ModelSpec


def _request(request: MoaRequest, spec: ModelSpec, answers: list[str], answer_room: int, **extra: Any) -> dict[str, Any]:
    temperature, max_tokens, system = request.settings_for(spec)
    messages = build_messages(request.question, request.history, system, answers)
    return {
        "model": spec.model,
        **extra,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "messages": [m.as_dict() for m in messages],
        "input_tokens_estimate": sum(estimate_tokens(m.content) for m in messages),
        "answers_up_to_tokens": answer_room,
    }


def build_plan(
    request: MoaRequest, providers: Mapping[str, ProviderConfig], keys: KeyStore, env: Mapping[str, str]
) -> dict[str, Any]:
    """The plan of ``request`` as plain data: providers (keys redacted), requests, prompt template."""
    used = dict.fromkeys(split_model(s.model, providers)[0] for s in (*request.references, request.aggregator))
    plan_providers = []
    for name in used:
        config = providers[name]
        key, source = find_key(config, keys, env)
        plan_providers.append(
            {
                "name": name,
                "url": config.base_url,
                "key": f"{source} (set, redacted)" if key else source,
            }
        )
    requests: list[dict[str, Any]] = []
    previous: list[tuple[str, int]] = []  # (label, max tokens) of the layer before
    for layer in range(1, request.layers + 1):
        answers = [f"<answer of {label}>" for label, _ in previous]
        room = sum(limit for _, limit in previous)
        current = []
        for spec in request.references:
            for sample in range(request.samples):
                label = f"{spec.model} #{sample + 1}" if request.samples > 1 else spec.model
                entry = _request(request, spec, answers, room, role="reference", layer=layer, sample=sample)
                entry["temperature"] = request.sample_temperature(entry["temperature"], sample)
                requests.append(entry)
                current.append((label, entry["max_tokens"]))
        previous = current
    answers = [f"<answer of {label}>" for label, _ in previous]
    room = sum(limit for _, limit in previous)
    requests.append(_request(request, request.aggregator, answers, room, role="aggregator", layer=request.layers + 1))
    return {
        "question": request.question,
        "providers": plan_providers,
        "layers": request.layers,
        "samples": request.samples,
        "history_messages": len(request.history),
        "aggregator_prompt_template": AGGREGATE_PROMPT + "\n\n1. <answer>\n\n2. <answer> ...",
        "requests": requests,
    }


def plan_text(plan: Mapping[str, Any]) -> str:
    """The plan as a person reads it."""
    lines = ["Dry run: nothing is sent.", ""]
    for p in plan["providers"]:
        lines.append(f"provider {p['name']}: {p['url']} (key: {p['key']})")
    lines.append(
        f"layers: {plan['layers']} · samples per reference: {plan['samples']} · "
        f"history: {plan['history_messages']} messages"
    )
    for i, r in enumerate(plan["requests"], 1):
        lines += [
            "",
            f"request {i}: {r['role']} {r['model']} (layer {r['layer']}) · temperature {r['temperature']} · "
            f"max tokens {r['max_tokens']} · ~{r['input_tokens_estimate']:,} input tokens"
            + (f" + up to {r['answers_up_to_tokens']:,} for answers" if r["answers_up_to_tokens"] else ""),
        ]
        for m in r["messages"]:
            body = m["content"].replace(AGGREGATE_PROMPT, "<the aggregation prompt below>")
            body = body if len(body) <= 600 else body[:600] + " […]"
            lines.append(f"  [{m['role']}] " + body.replace("\n", "\n    "))
    lines += ["", "aggregator prompt template:", "  " + plan["aggregator_prompt_template"].replace("\n", "\n  ")]
    return "\n".join(lines) + "\n"
