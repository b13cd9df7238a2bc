"""Question/sentence words for the extractive answer (app/ragstack/retrieval/tokens.py)."""

from __future__ import annotations

import pytest
from ragstack.retrieval.tokens import tokenize


@pytest.mark.parametrize("text", ["", "   ", "?!.,;:—()[]", "___", "the a an of"])
def test_nothing_meaningful_gives_no_words(text):
    assert tokenize(text) == []


def test_lowercases_and_drops_stopwords_and_punctuation():
    assert tokenize("What is the Lighthouse's LAMP, and where?") == ["lighthouse", "s", "lamp"]


def test_underscores_and_hyphens_separate_words_digits_stay():
    assert tokenize("max_retries=3 re-try v2.1") == ["max", "retries", "3", "re", "try", "v2", "1"]


def test_unicode_letters_are_words():
    assert tokenize("Straße, ÉCOLE und 東京 café") == ["straße", "école", "und", "東京", "café"]
