"""Okapi BM25 over a collection's chunks, held in memory per worker process.

The index is rebuilt from the stored chunks whenever the collection's index version (in Redis)
changes, so every worker answers from the same document set.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# A short list: BM25's idf already discounts common words; these only add noise to short queries.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "do",
        "does",
        "can",
        "you",
        "your",
    ]
)


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


@dataclass
class IndexedChunk:
    chunk_id: str
    text: str
    metadata: Mapping[str, Any]


@dataclass
class Bm25Index:
    chunks: list[IndexedChunk]
    k1: float = 1.5
    b: float = 0.75
    _postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)
    _norm: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    by_id: dict[str, IndexedChunk] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {chunk.chunk_id: chunk for chunk in self.chunks}
        term_docs: dict[str, list[int]] = defaultdict(list)
        term_freqs: dict[str, list[int]] = defaultdict(list)
        lengths = np.zeros(len(self.chunks), dtype=np.float32)
        for position, chunk in enumerate(self.chunks):
            tokens = tokenize(chunk.text)
            lengths[position] = len(tokens)
            counts: dict[str, int] = defaultdict(int)
            for token in tokens:
                counts[token] += 1
            for token, count in counts.items():
                term_docs[token].append(position)
                term_freqs[token].append(count)
        n = len(self.chunks)
        average = float(lengths.mean()) if n else 0.0
        # Per-document part of BM25's denominator, computed once.
        self._norm = self.k1 * (1 - self.b + self.b * lengths / (average or 1.0))
        for token, docs in term_docs.items():
            self._postings[token] = (
                np.asarray(docs, dtype=np.int32),
                np.asarray(term_freqs[token], dtype=np.float32),
            )
            df = len(docs)
            self._idf[token] = math.log(1 + (n - df + 0.5) / (df + 0.5))

    def __len__(self) -> int:
        return len(self.chunks)

    def search(
        self, query: str, limit: int, filters: Mapping[str, Any] | None = None
    ) -> list[tuple[IndexedChunk, float]]:
        if not self.chunks:
            return []
        scores = np.zeros(len(self.chunks), dtype=np.float32)
        for token in set(tokenize(query)):
            posting = self._postings.get(token)
            if posting is None:
                continue
            docs, tf = posting
            scores[docs] += self._idf[token] * tf * (self.k1 + 1) / (tf + self._norm[docs])
        candidates = np.flatnonzero(scores > 0)
        if filters:
            candidates = np.asarray(
                [i for i in candidates if matches(self.chunks[i].metadata, filters)], dtype=np.int64
            )
        if candidates.size == 0:
            return []
        if candidates.size > limit:
            top = np.argpartition(-scores[candidates], limit - 1)[:limit]
            candidates = candidates[top]
        ranked = sorted(candidates.tolist(), key=lambda i: (-scores[i], i))
        return [(self.chunks[i], float(scores[i])) for i in ranked]


def matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(metadata.get(key) == value for key, value in filters.items())


def build_index(chunks: Sequence[IndexedChunk]) -> Bm25Index:
    return Bm25Index(list(chunks))
