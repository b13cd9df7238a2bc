"""Fusion of dense and lexical candidates (in process, no servers)."""

from __future__ import annotations

import pytest
from ragstack.retrieval.fusion import Candidate, FusionMethod, fuse


def ranked(*pairs: tuple[str, float]) -> list[Candidate]:
    return [Candidate(chunk_id, score, "", {}) for chunk_id, score in pairs]


@pytest.mark.parametrize("method", list(FusionMethod))
def test_found_by_both_beats_first_place_in_one(method):
    dense = ranked(("a", 0.9), ("c", 0.85), ("b", 0.5))
    lexical = ranked(("c", 12.0), ("d", 3.0))
    fused = [c.chunk_id for c, _ in fuse(dense, lexical, method, 0.5, 60)]
    assert fused[0] == "c"
    assert set(fused) == {"a", "b", "c", "d"}


def test_weight_moves_the_ranking_towards_one_side():
    dense = ranked(("a", 0.9), ("b", 0.1))
    lexical = ranked(("b", 20.0), ("a", 1.0))
    towards_dense = fuse(dense, lexical, FusionMethod.convex, 0.9, 60)
    towards_lexical = fuse(dense, lexical, FusionMethod.convex, 0.1, 60)
    assert towards_dense[0][0].chunk_id == "a"
    assert towards_lexical[0][0].chunk_id == "b"


def test_convex_keeps_score_gaps_rrf_does_not():
    # "a" wins dense by a mile and is a close third lexically; "b" is a far second in dense.
    dense = ranked(("a", 0.95), ("b", 0.30), ("c", 0.29), ("d", 0.28))
    lexical = ranked(("b", 9.0), ("c", 8.5), ("a", 8.0), ("d", 0.5))
    assert fuse(dense, lexical, FusionMethod.convex, 0.5, 60)[0][0].chunk_id == "a"
    assert fuse(dense, lexical, FusionMethod.rrf, 0.5, 60)[0][0].chunk_id == "b"


def test_one_list_keeps_its_order_and_scores():
    dense = ranked(("a", 0.9), ("b", 0.5))
    assert [(c.chunk_id, s) for c, s in fuse(dense, [], FusionMethod.rrf, 0.5, 60)] == [
        ("a", 0.9),
        ("b", 0.5),
    ]
    assert fuse([], [], FusionMethod.convex, 0.5, 60) == []
