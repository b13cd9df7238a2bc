"""The answer given without an LLM: the passages' sentences that best match the question."""

from __future__ import annotations

import re

from ragstack.retrieval.tokens import tokenize

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SENTENCES = 3
MAX_CHARS = 600


def extractive_answer(question: str, passages: list[str]) -> str:
    """Up to three sentences, each followed by the [n] of the passage it comes from."""
    terms = set(tokenize(question))
    scored: list[tuple[float, int, int, str]] = []
    for number, passage in enumerate(passages, start=1):
        for position, sentence in enumerate(_SENTENCE.split(passage)):
            sentence = sentence.strip()
            if len(sentence) < 3:
                continue
            words = tokenize(sentence)
            overlap = len(terms.intersection(words))
            # Prefer sentences that share words with the question, then earlier passages.
            scored.append((overlap / (1 + len(words) ** 0.5), -number, -position, sentence))
    if not scored:
        return ""
    best = sorted(scored, reverse=True)[:MAX_SENTENCES]
    # Keep the chosen sentences in reading order.
    best.sort(key=lambda item: (-item[1], -item[2]))
    parts, length = [], 0
    for _, negative_number, _, sentence in best:
        if length and length + len(sentence) > MAX_CHARS:
            break
        parts.append(f"{sentence} [{-negative_number}]")
        length += len(sentence)
    return " ".join(parts)
