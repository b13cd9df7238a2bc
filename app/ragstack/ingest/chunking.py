"""Split sections into overlapping chunks on paragraph, then sentence, then word boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragstack.ingest.parsers import Section

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    page: int | None
    heading: str | None


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
        for sentence in _SENTENCES.split(paragraph):
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
                current, length = carried, carried_length
            current.append(unit)
            length += len(unit) + 2
        if current:
            chunks.append(Chunk(len(chunks), "\n\n".join(current), section.page, section.heading))
    return chunks
