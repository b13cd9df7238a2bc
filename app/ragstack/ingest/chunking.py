"""Split sections into overlapping chunks on paragraph, then sentence, then word boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragstack.ingest.parsers import Section

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_ENDS = re.compile(r"(?<=[.!?])\s+")
_OPENERS = "\"'([\u201c\u2018\u00ab\u00bf\u00a1"


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    page: int | None
    heading: str | None


def _sentences(paragraph: str) -> list[str]:
    """Split after . ! ? where the next word starts a sentence (a capital in any script, a digit
    or an opening quote/bracket), so "e.g. the" and "3.5 km" stay whole."""
    sentences: list[str] = []
    for piece in _SENTENCE_ENDS.split(paragraph):
        first = piece[:1]
        if sentences and not (first.isupper() or first.isdigit() or first in _OPENERS):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def _units(text: str, size: int) -> list[str]:
    """Pieces no longer than ``size``: paragraphs, or sentences/words of long paragraphs."""
    units: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= size:
            units.append(paragraph)
            continue
        for sentence in _sentences(paragraph):
            if len(sentence) <= size:
                units.append(sentence)
                continue
            words, current = sentence.split(), ""
            for word in words:
                while len(word) > size:  # a "word" longer than a chunk: cut it
                    if current:
                        units.append(current)
                        current = ""
                    units.append(word[:size])
                    word = word[size:]
                if current and len(current) + 1 + len(word) > size:
                    units.append(current)
                    current = word
                else:
                    current = f"{current} {word}" if current else word
            if current:
                units.append(current)
    return units


def chunk_sections(sections: list[Section], size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in sections:
        units = _units(section.text, size)
        current: list[str] = []
        length = 0
        for unit in units:
            if current and length + 2 + len(unit) > size:
                chunks.append(
                    Chunk(len(chunks), "\n\n".join(current), section.page, section.heading)
                )
                # Carry the tail of the previous chunk over so a fact split across the boundary
                # is still found whole in one of the two.
                carried: list[str] = []
                carried_length = 0
                for previous in reversed(current):
                    if carried_length + len(previous) > overlap:
                        break
                    carried.insert(0, previous)
                    carried_length += len(previous) + 2
                # The overlap gives way when the next unit would not fit beside it.
                while carried and carried_length + len(unit) > size:
                    carried_length -= len(carried.pop(0)) + 2
                current, length = carried, carried_length
            current.append(unit)
            length += len(unit) + 2
        if current:
            chunks.append(Chunk(len(chunks), "\n\n".join(current), section.page, section.heading))
    return chunks
