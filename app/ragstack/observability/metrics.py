"""Prometheus metrics. With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty
directory, cleared before start) so that /metrics aggregates all workers."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "ragstack_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "ragstack_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
INGESTED_DOCUMENTS = Counter(
    "ragstack_ingest_documents_total", "Documents ingested", ["format", "outcome"]
)
INGESTED_CHUNKS = Counter("ragstack_ingest_chunks_total", "Chunks written to the index")
INGEST_DURATION = Histogram(
    "ragstack_ingest_duration_seconds",
    "Time to parse, chunk, embed and index one document",
    ["format"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
CACHE_REQUESTS = Counter("ragstack_cache_requests_total", "Cache lookups", ["cache", "result"])
LLM_LATENCY = Histogram(
    "ragstack_llm_request_duration_seconds",
    "LLM call latency (whole answer)",
    ["provider", "outcome"],
    buckets=LATENCY_BUCKETS,
)
LLM_TIME_TO_FIRST_TOKEN = Histogram(
    "ragstack_llm_time_to_first_token_seconds",
    "From sending a streamed LLM request to its first token",
    ["provider"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
LLM_TOKENS_PER_SECOND = Histogram(
    "ragstack_llm_tokens_per_second",
    "Generation speed of one answer: completion tokens / time from first to last token",
    ["provider"],
    buckets=(1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500),
)
LLM_GENERATIONS_IN_FLIGHT = Gauge(
    "ragstack_llm_generations_in_flight",
    "LLM generations running in this process (the per-host limit spans all workers)",
    multiprocess_mode="livesum",
)
LLM_REJECTED = Counter(
    "ragstack_llm_rejected_total",
    "Chat requests refused with 503 because every generation slot stayed busy",
)
LLM_TOKENS = Counter("ragstack_llm_tokens_total", "LLM tokens", ["provider", "kind"])
CHAT_ANSWERS = Counter("ragstack_chat_answers_total", "Chat answers", ["mode", "degraded"])
INDEX_CHUNKS = Gauge(
    "ragstack_index_chunks",
    "Chunks in each collection's index",
    ["collection"],
    multiprocess_mode="mostrecent",
)
INDEX_DOCUMENTS = Gauge(
    "ragstack_index_documents",
    "Documents in each collection's index",
    ["collection"],
    multiprocess_mode="mostrecent",
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
