"""Prometheus metrics. With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty
directory, cleared before start) so that /metrics aggregates all workers."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


WORKER_JOBS = Counter(
    "ragstack_worker_jobs_total",
    "Ingestion jobs a worker finished, by outcome (ready, failed, gone, duplicate, "
    "retried, dead_letter)",
    ["outcome"],
)
WORKER_JOBS_IN_PROGRESS = Gauge(
    "ragstack_worker_jobs_in_progress", "Documents a worker is processing now"
)
LEXICAL_CHANGES = Counter(
    "ragstack_lexical_changes_total", "Change-feed entries applied to the lexical index", ["op"]
)
LEXICAL_APPLY_SECONDS = Histogram(
    "ragstack_lexical_apply_seconds",
    "Time to apply one batch of changes to the lexical index, commit included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LEXICAL_WAIT = Counter(
    "ragstack_lexical_wait_total",
    "Queries that found the lexical index behind their collection's version, by outcome",
    ["outcome"],
)
RECONCILE_RUNS = Counter("ragstack_reconcile_runs_total", "Reconciler runs")
RECONCILE_FINDINGS = Counter(
    "ragstack_reconcile_findings_total",
    "What the reconciler found (and fixed, but for chunk_mismatch), by kind",
    ["kind"],
)


def queue_gauges(
    depth: dict[str, int], oldest: dict[str, float], pending: dict[str, int], dead_letters: int
) -> list[Metric]:
    """The ingestion queues as seen in Redis at scrape time (cluster-wide facts: any backend
    reports the same values)."""
    families = [
        GaugeMetricFamily(
            "ragstack_ingest_queue_depth", "Documents waiting or in progress", labels=["node"]
        ),
        GaugeMetricFamily(
            "ragstack_ingest_queue_oldest_age_seconds",
            "Age of the oldest queued document",
            labels=["node"],
        ),
        GaugeMetricFamily(
            "ragstack_ingest_queue_pending",
            "Documents a worker has taken and not finished",
            labels=["node"],
        ),
    ]
    for node in sorted(depth):
        families[0].add_metric([node], depth[node])
        families[1].add_metric([node], oldest[node])
        families[2].add_metric([node], pending[node])
    dead = GaugeMetricFamily(
        "ragstack_ingest_dead_letters", "Jobs given up after repeated failures (kept for review)"
    )
    dead.add_metric([], dead_letters)
    return [*families, dead]


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def render(extra: Iterable[Metric] = ()) -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    scraped = CollectorRegistry()
    scraped.register(_Fixed(extra))
    return body + generate_latest(scraped), CONTENT_TYPE_LATEST
