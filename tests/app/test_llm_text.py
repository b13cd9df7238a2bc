"""Citation rewriting and the extractive answer, on their own (pure functions, no servers)."""

from __future__ import annotations

import re

import pytest
from ragstack.llm.citations import CitationRewriter, rewrite
from ragstack.llm.extractive import extractive_answer, sentences
from ragstack.retrieval.service import Hit


def hits(count: int) -> list[Hit]:
    return [
        Hit(f"c{n}", f"d{n}", f"f{n}.md", f"T{n}", None, None, f"passage {n}", 1.0)
        for n in range(1, count + 1)
    ]


def test_markers_are_checked_renumbered_and_listed():
    answer = "Backups run at two [3]. Patching is on Tuesday [1][3] [1, 3]."
    text, citations = rewrite(answer, hits(3))
    assert text == "Backups run at two [1]. Patching is on Tuesday [2][1] [2][1]."
    assert [(c["index"], c["chunk_id"]) for c in citations] == [(1, "c3"), (2, "c1")]


@pytest.mark.parametrize(
    "answer",
    ["It is so [4].", "It is so [0].", "It is so [2024].", "It is so [4, 9]."],
)
def test_an_invented_citation_is_dropped(answer):
    text, citations = rewrite(answer, hits(3))
    assert text == "It is so." and citations == []


def test_only_the_invented_part_of_a_list_is_dropped():
    text, citations = rewrite("Yes [2, 7][9].", hits(2))
    assert text == "Yes [1]." and [c["chunk_id"] for c in citations] == ["c2"]


def test_brackets_that_are_not_markers_stay():
    answer = "Use list[int] or [see the manual] and a[0 (unclosed"
    assert rewrite(answer, hits(2)) == (answer, [])


def stream(pieces: list[str], count: int) -> tuple[str, list[int]]:
    rewriter = CitationRewriter(hits(count))
    out = "".join(rewriter.feed(p) for p in pieces) + rewriter.finish()
    return out, [c["index"] for c in rewriter.citations]


def test_a_marker_split_across_tokens_is_held_until_it_closes():
    rewriter = CitationRewriter(hits(3))
    assert rewriter.feed("Yes [") == "Yes "
    assert rewriter.feed("3") == ""
    assert rewriter.citations == []
    assert rewriter.feed("]. Also [1") == "[1]. Also "
    assert [c["chunk_id"] for c in rewriter.citations] == ["c3"]
    assert rewriter.feed("7]") == ""  # [17]: invented, dropped
    assert rewriter.finish() == ""


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_streamed_pieces_give_the_whole_answer_rewriting(size):
    answer = "A [2] b [1, 9] c [12] d [2][3] e [ f"
    pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
    out, numbers = stream(pieces, 3)
    assert out == "A [1] b [2] c  d [1][3] e [ f"
    assert numbers == [1, 2, 3]


def test_an_unclosed_bracket_ends_as_text():
    assert stream(["see [1", "2"], 3) == ("see [12", [])


MARKDOWN = """# Deployment guide

A production RAG system and the Ansible collection that deploys it
onto bare-metal and VM fleets over SSH: **`ragstack.platform`**.

## Ports

| port | service |
|---|---|
| 8000 | backend |

- `scripts/lab` starts hosts
- Every host gets the [common](roles/common) role first.

```sh
make demo. Run it.
```

and then the chunk was cut mid-sentence so this has no end"""


def test_extractive_quotes_whole_sentences_only():
    found = sentences(MARKDOWN)
    assert found == [
        "A production RAG system and the Ansible collection that deploys it onto bare-metal "
        "and VM fleets over SSH: ragstack.platform.",
        "Every host gets the common role first.",
    ]


def test_a_chunk_that_starts_mid_sentence_is_not_quoted_from_its_start():
    passage = "over SSH to every host. The backup runs nightly at two o'clock."
    assert sentences(passage) == ["The backup runs nightly at two o'clock."]


def test_extractive_answer_cites_only_what_it_quotes():
    passages = ["## Lunch\n\nThe canteen is open at noon.", MARKDOWN, "| a | b |\n|---|---|"]
    answer = extractive_answer("Which fleets does the collection deploy onto?", passages)
    text, citations = rewrite(answer, hits(3))
    assert text.startswith("A production RAG system") and text.endswith("ragstack.platform. [1]")
    assert [c["chunk_id"] for c in citations] == ["c2"]
    assert not re.search(r"[#|`*]", text)


def test_extractive_answer_without_sentences_is_empty():
    assert extractive_answer("anything", ["# Title", "| a | b |", "no end here"]) == ""
