"""Connections shared by the API and the worker, built from the settings."""

from __future__ import annotations

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ragstack.config import EmbeddingBackend, Settings
from ragstack.retrieval.embedding import Embedder, OllamaEmbedder, onnx_embedder
from ragstack.retrieval.vectorstore import VectorStore


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def connect_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        password=secret(settings.redis_password),
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=30,
        max_connections=256,
        # Retry on a fresh connection when a pooled one turns out dead (redis restarted): without
        # retry_on_error, redis-py retries plain commands but not MULTI/EXEC pipelines, and the
        # first catalog write after every redis restart failed with 503. A transaction is resent
        # only when its connection failed; the rare case of one lost after EXEC reached the
        # server may apply its counters twice, which the stale-connection 503s outweigh (the
        # reconciler repairs drifted counters).
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def connect_chroma(settings: Settings) -> VectorStore:
    return VectorStore(settings.chroma_url, secret(settings.chroma_token), settings.chroma_ca_file)


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == EmbeddingBackend.ollama:
        base = settings.embedding_base_url or settings.llm_base_url
        if not base:
            raise ValueError("RAGSTACK_EMBEDDING_BASE_URL is required for the ollama backend")
        return OllamaEmbedder(base, settings.embedding_model)
    return onnx_embedder(settings.embedding_threads, settings.embedding_batch_size)
