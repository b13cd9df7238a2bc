"""Fusion edge cases beside tests/app/test_fusion.py: exact scores, ties, flat lists, weights."""

from __future__ import annotations

import pytest
from ragstack.retrieval.fusion import Candidate, FusionMethod, best_per_document, fuse


def ranked(*pairs: tuple[str, float]) -> list[Candidate]:
    return [Candidate(chunk_id, score, "", {}) for chunk_id, score in pairs]


def ids(fused: list[tuple[Candidate, float]]) -> list[str]:
    return [c.chunk_id for c, _ in fused]


def test_rrf_scores_are_weighted_reciprocal_ranks():
    dense, lexical = ranked(("a", 0.9), ("b", 0.8)), ranked(("b", 5.0))
    fused = {c.chunk_id: s for c, s in fuse(dense, lexical, FusionMethod.rrf, 0.7, 10)}
    assert fused["a"] == pytest.approx(0.7 / 11)
    assert fused["b"] == pytest.approx(0.7 / 12 + 0.3 / 11)


@pytest.mark.parametrize("method", list(FusionMethod))
def test_a_tie_keeps_the_order_of_first_appearance_dense_first(method):
    # Mirror images: each list's winner is absent from the other, equal weights -> equal scores.
    dense, lexical = ranked(("d", 0.9), ("x", 0.1)), ranked(("l", 7.0), ("y", 1.0))
    fused = fuse(dense, lexical, method, 0.5, 60)
    assert ids(fused) == ["d", "l", "x", "y"]
    assert fused[0][1] == pytest.approx(fused[1][1])
    swapped = fuse(lexical, dense, method, 0.5, 60)
    assert ids(swapped) == ["l", "d", "y", "x"]


def test_convex_gives_a_list_of_equal_scores_full_marks():
    # No spread to normalise: every candidate counts as that list's best (1.0), none as 0.
    fused = fuse(ranked(("a", 0.4), ("b", 0.4)), ranked(("b", 3.0)), FusionMethod.convex, 0.5, 60)
    assert [(c.chunk_id, s) for c, s in fused] == [("b", 1.0), ("a", 0.5)]


def test_convex_normalises_negative_and_large_scores_alike():
    dense = ranked(("a", -1.0), ("b", -3.0))  # e.g. negated distances
    lexical = ranked(("b", 1000.0), ("a", 0.0))
    fused = {c.chunk_id: s for c, s in fuse(dense, lexical, FusionMethod.convex, 0.25, 60)}
    assert fused == {"a": pytest.approx(0.25), "b": pytest.approx(0.75)}


@pytest.mark.parametrize("method", list(FusionMethod))
def test_weight_one_or_zero_follows_one_list_only(method):
    dense = ranked(("a", 0.9), ("b", 0.5), ("c", 0.1))
    lexical = ranked(("c", 9.0), ("b", 4.0), ("a", 1.0))
    assert ids(fuse(dense, lexical, method, 1.0, 60)) == ["a", "b", "c"]
    assert ids(fuse(dense, lexical, method, 0.0, 60)) == ["c", "b", "a"]


def test_the_dense_candidate_represents_a_chunk_found_by_both():
    dense = [Candidate("a", 0.9, "dense text", {"source": "dense"})]
    lexical = [Candidate("a", 9.0, "lexical text", {"source": "lexical"})]
    (only,) = fuse(dense, lexical, FusionMethod.rrf, 0.5, 60)
    assert only[0].text == "dense text" and only[0].metadata == {"source": "dense"}
    assert only[1] == pytest.approx(1 / 61)


def test_best_per_document_of_nothing_is_nothing_and_keeps_first_seen_order():
    assert best_per_document([]) == []
    chunks = [
        Candidate("y:2", 0.9, "", {"document_id": "y"}),
        Candidate("x:1", 0.8, "", {"document_id": "x"}),
        Candidate("y:1", 0.7, "", {"document_id": "y"}),
    ]
    assert [c.chunk_id for c in best_per_document(chunks)] == ["y:2", "x:1"]
