"""The answer given without an LLM: whole sentences quoted from the passages that best match the
question, each followed by the ``[n]`` of the passage it comes from.

Passages are Markdown-ish chunks: headings, tables, code and list markers are not sentences, a
line break inside a paragraph is not a sentence end, and a chunk may start or stop mid-sentence
(the chunker's overlap). Only text that reads as a complete sentence is quoted.
"""

from __future__ import annotations

import re

from ragstack.retrieval.tokens import tokenize

MAX_SENTENCES = 3
MAX_CHARS = 600
MIN_WORDS = 4

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')]))\s+(?=[\"'(]?[A-Z0-9])")
_NOT_PROSE = re.compile(r"^\s*(#{1,6}\s|\||```|~~~|[-*_=]{3,}\s*$|<)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_BRACKETS = re.compile(r"\[[^\]]*\]")  # a passage's own [..] must not read as a citation
_COMPLETE = re.compile(r"^[\"'(]?[A-Z0-9].*[.!?][\"')]*$", re.S)


def _plain(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    text = _BRACKETS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def _prose_blocks(passage: str) -> list[str]:
    """Paragraphs and list items as single lines, without headings, tables or code."""
    blocks: list[str] = []
    in_code = False
    for paragraph in _PARAGRAPHS.split(passage):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                in_code = not in_code
                continue
            if in_code or _NOT_PROSE.match(line):
                continue
            if _LIST_ITEM.match(line):
                if lines:
                    blocks.append(" ".join(lines))
                lines = [_LIST_ITEM.sub("", line)]
            else:
                lines.append(line.strip())
        if lines:
            blocks.append(" ".join(lines))
    return blocks


def sentences(passage: str) -> list[str]:
    """The complete sentences of a passage, in order, as plain text."""
    found: list[str] = []
    for block in _prose_blocks(passage):
        for candidate in _SENTENCE_END.split(_plain(block)):
            candidate = candidate.strip()
            if _COMPLETE.match(candidate) and len(candidate.split()) >= MIN_WORDS:
                found.append(candidate)
    return found


def extractive_answer(question: str, passages: list[str]) -> str:
    """Up to three whole sentences, each followed by the [n] of the passage it comes from;
    empty when no passage holds a complete sentence."""
    terms = set(tokenize(question))
    scored: list[tuple[float, int, int, str]] = []
    for number, passage in enumerate(passages, start=1):
        for position, sentence in enumerate(sentences(passage)):
            words = tokenize(sentence)
            overlap = len(terms.intersection(words))
            # Prefer sentences that share words with the question, then earlier passages.
            scored.append((overlap / (1 + len(words) ** 0.5), -number, -position, sentence))
    if not scored:
        return ""
    ranked = sorted(scored, reverse=True)
    best = [item for item in ranked if item[0] > 0][:MAX_SENTENCES] or ranked[:1]
    # Keep the chosen sentences in reading order.
    best.sort(key=lambda item: (-item[1], -item[2]))
    parts, length = [], 0
    for _, negative_number, _, sentence in best:
        if length and length + len(sentence) > MAX_CHARS:
            break
        parts.append(f"{sentence} [{-negative_number}]")
        length += len(sentence)
    return " ".join(parts)
