"""Pieces shared by bench/bench.py (backend benchmark) and bench/load.py (load on a deployment):
a generated corpus and its queries, the open-loop fixed-rate driver, percentiles and ingestion."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TOPICS = {
    "networking": "vpn gateway firewall subnet dns resolver routing vlan bandwidth latency proxy",
    "databases": "postgres replica vacuum index query planner wal backup restore schema migration",
    "security": "password rotation mfa certificate tls audit vulnerability patch secret vault",
    "storage": "disk volume snapshot raid nfs quota filesystem inode retention archive",
    "monitoring": "prometheus alert dashboard metric scrape exporter grafana threshold paging",
    "deployment": "ansible playbook role inventory rollout canary rollback release artifact",
    "kubernetes": "pod deployment service ingress node scheduler namespace helm operator",
    "messaging": "kafka topic partition consumer lag broker queue retention offset",
    "identity": "ldap group account sso token session directory provisioning",
    "incident": "outage postmortem timeline severity escalation oncall runbook mitigation",
}
VERBS = "configure check restart verify rotate monitor document review upgrade tune".split()  # noqa: SIM905
FILLER = "the a every each our their this that team operator service cluster host".split()  # noqa: SIM905

# What one call of the driver's ``send`` reports: None when the answer was right, else a short
# name for what went wrong (an HTTP status, an exception class).
Send = Callable[[str], Awaitable[str | None]]


def sentence(rng: random.Random, topic: str) -> str:
    words = TOPICS[topic].split()
    parts = [rng.choice(FILLER), rng.choice(words), rng.choice(VERBS), rng.choice(FILLER)]
    parts += [*rng.sample(words, 3), f"every {rng.randint(2, 90)} days"]
    return " ".join(parts).capitalize() + "."


def document(rng: random.Random, number: int) -> tuple[str, str]:
    topic = rng.choice(list(TOPICS))
    sections = []
    for s in range(rng.randint(3, 5)):
        paragraphs = [
            " ".join(sentence(rng, topic) for _ in range(rng.randint(5, 8)))
            for _ in range(rng.randint(1, 2))
        ]
        sections.append(f"## {topic} procedure {s + 1}\n\n" + "\n\n".join(paragraphs))
    return f"{topic}-{number:04d}.md", f"# {topic} runbook {number}\n\n" + "\n\n".join(sections)


def queries(rng: random.Random, count: int) -> list[str]:
    out = []
    for i in range(count):
        topic = rng.choice(list(TOPICS))
        words = rng.sample(TOPICS[topic].split(), 3)
        out.append(f"how do we {rng.choice(VERBS)} the {' '.join(words)} #{i}")
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


async def ingest(
    client: httpx.AsyncClient, collection: str, docs: list[tuple[str, str]], parallel: int
) -> dict[str, Any]:
    """Create ``collection`` (if new) and upload ``docs`` (name, Markdown) to it."""
    response = await client.post("/v1/collections", json={"name": collection})
    if response.status_code != 409:  # 409: it exists already
        response.raise_for_status()
    semaphore = asyncio.Semaphore(parallel)
    chunks = 0
    errors = 0

    async def one(name: str, text: str) -> None:
        nonlocal chunks, errors
        async with semaphore:
            for _ in range(30):  # rate-limited (429: nginx or the key's limit): wait, try again
                r = await client.post(
                    f"/v1/collections/{collection}/documents",
                    files={"file": (name, text.encode(), "text/markdown")},
                    # Wait for the worker (below nginx's 60 s proxy timeout).
                    params={"wait": 50},
                )
                if r.status_code != 429:
                    break
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        if r.status_code in (200, 201):  # 200: the same file is there already
            chunks += r.json()["chunk_count"]
        else:
            errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(n, t) for n, t in docs))
    elapsed = time.perf_counter() - started
    return {"documents": len(docs), "chunks": chunks, "errors": errors, "seconds": elapsed}


@dataclass
class RateResult:
    """What a fixed-rate run saw. Times are seconds since the run's start."""

    sent: int = 0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    # When each of those requests was due (time.perf_counter()), in the same order.
    scheduled: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_times: list[tuple[float, str]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def fixed_rate(
    send: Send, items: list[str], rate: float, stop: asyncio.Event | None = None
) -> RateResult:
    """Call ``send(item)`` ``rate`` times a second, on schedule (open loop: a request leaves at
    its time whether or not earlier ones finished, and its latency counts from that time, so
    queueing is not hidden). Setting ``stop`` sends nothing more; requests in flight finish.
    Each request is started when it is due, not all made up front: an hour's worth made at once
    held a loaded machine's event loop for seconds, then sent every overdue request in one burst
    (nginx's per-client burst limit answered the rest 429)."""
    result = RateResult()
    stopped = stop or asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()

    async def one(scheduled: float, item: str) -> None:
        result.sent += 1
        try:
            problem = await send(item)
        except Exception as error:
            problem = type(error).__name__
        if problem is None:
            result.latencies.append(time.perf_counter() - scheduled)
            result.scheduled.append(scheduled)
        else:
            result.errors[problem] = result.errors.get(problem, 0) + 1
            result.error_times.append((round(scheduled - start, 3), problem))

    start = time.perf_counter()
    for index, item in enumerate(items):
        scheduled = start + index / rate
        try:
            await asyncio.wait_for(stopped.wait(), max(0.0, scheduled - time.perf_counter()))
            break  # stopped before this one was due
        except TimeoutError:
            pass
        task = asyncio.create_task(one(scheduled, item))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    result.wall = time.perf_counter() - start
    return result


def summary(results: list[RateResult]) -> dict[str, Any]:
    """Totals and latency percentiles (seconds) of one or more runs."""
    latencies = [x for r in results for x in r.latencies]
    wall = sum(r.wall for r in results)
    kinds: dict[str, int] = {}
    for r in results:
        for kind, count in r.errors.items():
            kinds[kind] = kinds.get(kind, 0) + count
    return {
        "sent": sum(r.sent for r in results),
        "ok": len(latencies),
        "errors": sum(kinds.values()),
        "error_kinds": kinds,
        "achieved_per_min": len(latencies) / wall * 60 if wall else 0.0,
        "mean": sum(latencies) / len(latencies) if latencies else math.nan,
        **percentiles(latencies),
        "max": max(latencies) if latencies else math.nan,
    }
