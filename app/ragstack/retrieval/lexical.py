"""The host's on-disk lexical index (Tantivy, BM25): one per app host, under
``RAGSTACK_DATA_DIR/lexical``, shared by every process of the host.

One writer, the indexer in ``ragstack-worker`` (``retrieval/indexer.py``), applies the catalog's
change feed document by document; readers (the API's workers) reload when it commits. Next to the
index, ``state.json`` says how far the writer got: the last change-feed entry applied and each
collection's version, so a query can wait until the index has caught up with its collection.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

ANALYZER = "ragstack_en"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# ragstack's lexical index: rebuilt from ChromaDB, no need to back it up.\n"
)
WRITER_HEAP_BYTES = 64 * 1024 * 1024
_WORD = re.compile(r"\w+")
# Fields of a chunk's metadata kept beside its text (the rest stays in ChromaDB).
STORED_META = (
    "document_id",
    "filename",
    "title",
    "page",
    "section",
    "chunk_index",
    "injection_suspect",
)


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: str
    score: float
    text: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class IndexState:
    feed_id: str
    versions: dict[str, int]


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("document_id", stored=False, tokenizer_name="raw")
    builder.add_text_field("collection", stored=False, tokenizer_name="raw")
    builder.add_text_field("text", stored=True, tokenizer_name=ANALYZER)
    builder.add_json_field("meta", stored=True)
    return builder.build()


def query_text(query: str) -> str:
    """The words of a user's query, lowercased: no query-parser syntax (quotes, fields, AND/OR)
    can survive, so any text is a valid query."""
    return " ".join(_WORD.findall(query.lower()))


class LexicalIndex:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._state_path = directory / "state.json"
        self._schema = _schema()
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._seen_state: float = 0.0
        self._lock = threading.Lock()

    # --- opening ---------------------------------------------------------------------------
    def _open(self, create: bool) -> tantivy.Index | None:
        if self._index is None:
            if create:
                self.directory.mkdir(parents=True, exist_ok=True)
                # Derived data, rebuilt from ChromaDB: backups (restic --exclude-caches) skip it.
                (self.directory / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)
            elif not (self.directory / "meta.json").exists():
                return None
            index = tantivy.Index(self._schema, path=str(self.directory), reuse=True)
            index.register_tokenizer(ANALYZER, _analyzer())
            self._index = index
        return self._index

    def state(self) -> IndexState | None:
        try:
            raw = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        return IndexState(raw["feed_id"], {k: int(v) for k, v in raw["versions"].items()})

    def version(self, collection: str) -> int:
        state = self.state()
        return state.versions.get(collection, 0) if state else 0

    # --- reading (any process) -------------------------------------------------------------
    def _searcher(self) -> tantivy.Searcher | None:
        index = self._open(create=False)
        if index is None:
            return None
        try:
            changed = self._state_path.stat().st_mtime
        except OSError:
            changed = 0.0
        if changed != self._seen_state:
            index.reload()
            self._seen_state = changed
        return index.searcher()

    def search(
        self, collection: str, query: str, limit: int, filters: Mapping[str, Any]
    ) -> list[LexicalHit]:
        words = query_text(query)
        with self._lock:
            searcher = self._searcher()
            if searcher is None or not words or limit <= 0:
                return []
            index = self._open(create=False)
            assert index is not None
            parsed = index.parse_query(words, ["text"])
            scope = tantivy.Query.term_query(self._schema, "collection", collection)
            combined = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, scope), (tantivy.Occur.Must, parsed)]
            )
            # Metadata filters are checked on the hits: take more to keep ``limit`` after them.
            wanted = limit * 4 if filters else limit
            result = searcher.search(combined, wanted)
            hits = []
            for score, address in result.hits:
                document = searcher.doc(address)
                hit = self._hit(document, score)
                if all(hit.metadata.get(k) == v for k, v in filters.items()):
                    hits.append(hit)
            return hits[:limit]

    def get(self, chunk_ids: Iterable[str]) -> dict[str, LexicalHit]:
        """Stored text and metadata of chunks by id (those in the index)."""
        found: dict[str, LexicalHit] = {}
        with self._lock:
            searcher = self._searcher()
            if searcher is None:
                return found
            for chunk_id in chunk_ids:
                term = tantivy.Query.term_query(self._schema, "chunk_id", chunk_id)
                for _score, address in searcher.search(term, 1).hits:
                    found[chunk_id] = self._hit(searcher.doc(address), 0.0)
        return found

    @staticmethod
    def _hit(document: tantivy.Document, score: float) -> LexicalHit:
        values = document.to_dict()
        meta = values.get("meta", [{}])[0]
        return LexicalHit(values["chunk_id"][0], float(score), values["text"][0], meta)

    def count(self) -> int:
        with self._lock:
            searcher = self._searcher()
            return searcher.num_docs if searcher is not None else 0

    # --- writing (the indexer only) --------------------------------------------------------
    def _writer_for(self) -> tantivy.IndexWriter:
        if self._writer is None:
            index = self._open(create=True)
            assert index is not None
            self._writer = index.writer(WRITER_HEAP_BYTES, 1)
        return self._writer

    def add(self, collection: str, chunks: Iterable[tuple[str, str, Mapping[str, Any]]]) -> int:
        """Add (chunk id, text, metadata) of one collection; returns how many."""
        writer = self._writer_for()
        added = 0
        for chunk_id, text, metadata in chunks:
            meta = {k: v for k, v in metadata.items() if k in STORED_META or k.startswith("meta_")}
            writer.add_document(
                tantivy.Document(
                    chunk_id=chunk_id,
                    document_id=str(metadata.get("document_id", "")),
                    collection=collection,
                    text=text,
                    meta=meta,
                )
            )
            added += 1
        return added

    def delete_document(self, document_id: str) -> None:
        self._writer_for().delete_documents_by_term("document_id", document_id)

    def delete_collection(self, collection: str) -> None:
        self._writer_for().delete_documents_by_term("collection", collection)

    def delete_all(self) -> None:
        self._writer_for().delete_all_documents()

    def commit(self, state: IndexState) -> None:
        """Make the changes visible, then record how far they go (readers reload on it)."""
        self._writer_for().commit()
        temporary = self._state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"feed_id": state.feed_id, "versions": state.versions}))
        os.replace(temporary, self._state_path)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
