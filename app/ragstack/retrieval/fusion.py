"""Fusion of the dense and the lexical candidate lists into one ranking.

- ``rrf``: weighted reciprocal rank fusion (Cormack et al., 2009): each list contributes
  ``weight / (k + rank)``; robust to the two retrievers' score scales, deaf to score gaps.
- ``convex``: a convex combination of min-max normalised scores
  (``w * dense + (1 - w) * lexical``; a candidate missing from a list scores 0 there), which
  keeps how far apart the scores are (Bruch et al., "An Analysis of Fusion Functions for Hybrid
  Retrieval", 2023).

A single list (one mode) keeps its own order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FusionMethod(StrEnum):
    rrf = "rrf"
    convex = "convex"


@dataclass(frozen=True)
class Candidate:
    chunk_id: str
    score: float
    text: str
    metadata: Mapping[str, Any]


def _normalised(candidates: Sequence[Candidate]) -> dict[str, float]:
    if not candidates:
        return {}
    scores = [c.score for c in candidates]
    low, high = min(scores), max(scores)
    span = high - low
    return {c.chunk_id: (c.score - low) / span if span > 0 else 1.0 for c in candidates}


def _reciprocal_ranks(candidates: Sequence[Candidate], k: int) -> dict[str, float]:
    return {c.chunk_id: 1.0 / (k + rank + 1) for rank, c in enumerate(candidates)}


def fuse(
    dense: Sequence[Candidate],
    lexical: Sequence[Candidate],
    method: FusionMethod,
    dense_weight: float,
    rrf_k: int,
) -> list[tuple[Candidate, float]]:
    """(candidate, fused score), best first; ties keep the order of first appearance."""
    if not lexical:
        return [(c, c.score) for c in dense]
    if not dense:
        return [(c, c.score) for c in lexical]
    if method == FusionMethod.convex:
        dense_part, lexical_part = _normalised(dense), _normalised(lexical)
    else:
        dense_part = _reciprocal_ranks(dense, rrf_k)
        lexical_part = _reciprocal_ranks(lexical, rrf_k)
    by_id: dict[str, Candidate] = {}
    for candidate in [*dense, *lexical]:
        by_id.setdefault(candidate.chunk_id, candidate)
    fused = {
        chunk_id: dense_weight * dense_part.get(chunk_id, 0.0)
        + (1 - dense_weight) * lexical_part.get(chunk_id, 0.0)
        for chunk_id in by_id
    }
    order = {chunk_id: i for i, chunk_id in enumerate(by_id)}
    ranked = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], order[chunk_id]))
    return [(by_id[chunk_id], fused[chunk_id]) for chunk_id in ranked]
