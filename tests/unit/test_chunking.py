"""Chunking (app/ragstack/ingest/chunking.py), in process: sizes, overlap, sections, odd text."""

from __future__ import annotations

import re

import pytest
from ragstack.ingest.chunking import chunk_sections
from ragstack.ingest.parsers import Section


def texts(sections: list[Section], size: int, overlap: int) -> list[str]:
    return [c.text for c in chunk_sections(sections, size, overlap)]


def words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", " \t\n \n\t "])
def test_empty_or_blank_text_gives_no_chunks(text):
    assert chunk_sections([Section(text)], 100, 20) == []


def test_short_text_is_one_chunk_keeping_page_and_heading():
    chunks = chunk_sections([Section("  One short paragraph.  ", page=3, heading="Intro")], 100, 20)
    assert [(c.index, c.text, c.page, c.heading) for c in chunks] == [
        (0, "One short paragraph.", 3, "Intro")
    ]


def test_a_paragraph_of_exactly_size_characters_stays_whole():
    paragraph = "x" * 100
    assert texts([Section(paragraph)], 100, 0) == [paragraph]
    assert texts([Section(paragraph + "y")], 100, 0) == [paragraph, "y"]


def test_paragraphs_are_packed_until_the_next_one_would_not_fit():
    # 40 + 2 ("\n\n") + 40 = 82 <= 100; a third would make 124.
    paragraphs = ["a" * 40, "b" * 40, "c" * 40]
    assert texts([Section("\n\n".join(paragraphs))], 100, 0) == [
        "a" * 40 + "\n\n" + "b" * 40,
        "c" * 40,
    ]
    # 40 + 2 + 56 = 98 fits; 40 + 2 + 59 = 101 does not.
    assert len(texts([Section("a" * 40 + "\n\n" + "b" * 56)], 100, 0)) == 1
    assert len(texts([Section("a" * 40 + "\n\n" + "b" * 59)], 100, 0)) == 2


def test_overlap_carries_whole_trailing_units_up_to_the_overlap():
    paragraphs = [f"p{i} " + "w" * 27 for i in range(6)]  # 30 characters each
    chunks = texts([Section("\n\n".join(paragraphs))], 100, 35)
    # Each chunk holds three paragraphs (94 characters); the last one (30 <= 35) is carried over,
    # two (62) would exceed the overlap.
    assert [c.split("\n\n") for c in chunks] == [
        paragraphs[0:3],
        paragraphs[2:5],
        paragraphs[4:6],
    ]


def test_overlap_smaller_than_any_unit_carries_nothing():
    paragraphs = [f"p{i} " + "w" * 27 for i in range(6)]
    chunks = texts([Section("\n\n".join(paragraphs))], 100, 29)
    assert [c.split("\n\n") for c in chunks] == [paragraphs[0:3], paragraphs[3:6]]


def test_long_paragraph_splits_on_sentences_then_words_losing_no_word():
    sentence = "The lighthouse keeper trims the wick at dusk. "
    text = sentence * 12 + ("Unpunctuated " + "word " * 60).strip()
    chunks = texts([Section(text)], 120, 0)
    assert all(len(c) <= 120 for c in chunks)
    # Sentences are cut at their boundary, never mid-sentence.
    assert chunks[0].startswith("The lighthouse") and chunks[0].endswith("dusk.")
    assert [w for c in chunks for w in words(c)] == words(text)


def test_a_word_longer_than_a_chunk_is_cut_into_pieces_of_size():
    token = "ab" * 130  # 260 characters, no space
    chunks = texts([Section(f"before {token} after")], 100, 0)
    assert chunks == ["before", token[:100], token[100:200], token[200:] + " after"]
    assert all(len(c) <= 100 for c in chunks)


def test_unicode_text_is_kept_intact():
    text = "Ünïcödé straße — 東京 の 灯台 🚢 naïve café. " * 20
    chunks = texts([Section(text)], 100, 0)
    assert all(len(c) <= 100 for c in chunks)
    assert [w for c in chunks for w in words(c)] == words(text)


def test_chunks_never_span_sections_and_indexes_run_across_them():
    sections = [
        Section("First page text.", page=1),
        Section("", page=2),
        Section("Third page, first paragraph.\n\nThird page, second.", page=3, heading="H"),
    ]
    chunks = chunk_sections(sections, 30, 0)
    assert [(c.index, c.page, c.heading, c.text) for c in chunks] == [
        (0, 1, None, "First page text."),
        (1, 3, "H", "Third page, first paragraph."),
        (2, 3, "H", "Third page, second."),
    ]


def test_no_chunk_exceeds_the_size_even_with_overlap():
    text = "\n\n".join(["a" * 45, "b" * 45, "c" * 90])
    assert all(len(c) <= 100 for c in texts([Section(text)], 100, 50))


def test_sentences_starting_with_a_non_ascii_capital_are_boundaries():
    chunks = texts([Section("Il fait beau. École fermée. Ça va.")], 20, 0)
    assert chunks == ["Il fait beau.", "École fermée.", "Ça va."]
