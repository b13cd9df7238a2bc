"""Citations that hold: the answer's ``[n]`` markers are checked against the passages the model
was given, renumbered in order of first use, and the citation list is exactly what is cited.

A marker naming no given passage (``[7]`` of five, ``[0]``, ``[2024]``) is an invented citation:
it is dropped from the text. The same rewriting works on a whole answer and, token by token, on
a stream (a marker split across tokens is held back until it closes).
"""

from __future__ import annotations

import re
from typing import Any

from ragstack.retrieval.service import Hit

SNIPPET_CHARS = 240
# ``[1]``, ``[1, 2]``, ``[1][2]`` (two markers). Spaces inside are tolerated.
_MARKER = re.compile(r"\[\s*(\d{1,6}(?:\s*[,;]\s*\d{1,6})*)\s*\]")
# The start of a marker that may still close.
_OPEN = re.compile(r"\[[\d\s,;]*")
# Longest text an unfinished marker may hold before it is clearly not one.
_MAX_OPEN = 40


def citation_view(number: int, hit: Hit) -> dict[str, Any]:
    return {
        "index": number,
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "filename": hit.filename,
        "title": hit.title,
        "page": hit.page,
        "section": hit.section,
        "snippet": hit.text[:SNIPPET_CHARS],
        "flagged": hit.flagged,
    }


class CitationRewriter:
    """Feed the answer in pieces; each call returns the text that is safe to show so far."""

    def __init__(self, hits: list[Hit]) -> None:
        self._hits = hits
        self._numbers: dict[int, int] = {}  # passage number given to the model -> shown number
        self._pending = ""
        self.dropped = 0

    @property
    def citations(self) -> list[dict[str, Any]]:
        by_shown = sorted((shown, given) for given, shown in self._numbers.items())
        return [citation_view(shown, self._hits[given - 1]) for shown, given in by_shown]

    def _replace(self, match: re.Match[str]) -> str:
        shown: list[int] = []
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            given = int(part)
            if not 1 <= given <= len(self._hits):
                self.dropped += 1
                continue
            number = self._numbers.setdefault(given, len(self._numbers) + 1)
            if number not in shown:
                shown.append(number)
        return "".join(f"[{n}]" for n in shown)

    def feed(self, text: str) -> str:
        text = self._pending + text
        self._pending = ""
        cut = text.rfind("[")
        if cut != -1 and len(text) - cut <= _MAX_OPEN and _OPEN.fullmatch(text[cut:]):
            text, self._pending = text[:cut], text[cut:]
        return _MARKER.sub(self._replace, text)

    def finish(self) -> str:
        """What was held back at the end of the answer (an unclosed ``[`` is plain text)."""
        rest, self._pending = self._pending, ""
        return rest


def rewrite(text: str, hits: list[Hit]) -> tuple[str, list[dict[str, Any]]]:
    """A whole answer with its markers checked and renumbered, and the passages it cites."""
    rewriter = CitationRewriter(hits)
    out = rewriter.feed(text) + rewriter.finish()
    if rewriter.dropped:
        # The spaces left where a dropped marker stood (``word [9].`` -> ``word.``).
        out = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
        out = re.sub(r"[ \t]{2,}", " ", out).strip()
    return out, rewriter.citations
