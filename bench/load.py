"""Sustained query load against a ragstack deployment (through its load balancer), with figures.

    .venv/bin/python bench/load.py --url https://rag.example.com --api-key KEY --collection docs \\
        --rate 500 --duration 300 [--ca-cert ca.pem | --insecure] [--json result.json]

Sends POST /v1/query at a fixed rate (queries per minute; open loop: each request leaves at its
scheduled time whether or not earlier ones finished, and latency counts from that time, so a
stalled server shows as latency instead of a slower send rate), each query distinct (no answer
cache hits), and prints the achieved rate, P50/P95/P99/max latency and the errors by kind. A
request counts as failed when the answer is not HTTP 200 with a `results` list of at least
--min-hits hits, or when it raises (connection reset, timeout). Ctrl-C (or SIGTERM) stops sending;
the requests in flight finish and the figures are printed. Each request's User-Agent is
`ragstack-load/1 request=N`; --json lists every failed request by it, so it can be found in the
load balancer's access log.

--prepare N creates the collection and uploads N generated runbooks first (needs a key with the
write scope); without it, point --collection at a collection of your own (and, with your own
documents, set --min-hits 0 unless the generated questions match them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from loadgen import document, fixed_rate, ingest, queries, summary

AGENT = "ragstack-load/1"


def tls_verify(args: argparse.Namespace) -> ssl.SSLContext | bool:
    if args.insecure:
        return False
    if args.ca_cert:
        return ssl.create_default_context(cafile=args.ca_cert)
    return True


async def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.api_key}"}
    # One client, HTTP/1.1 keep-alive; connections enough for the rate times the expected latency.
    connections = args.connections
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=args.url.rstrip("/"),
        headers=headers,
        timeout=args.timeout,
        verify=tls_verify(args),
        limits=limits,
    ) as client:
        if args.prepare:
            rng = random.Random(args.seed)
            docs = [document(rng, i) for i in range(args.prepare)]
            ingested = await ingest(client, args.collection, docs, parallel=2)
            print(f"prepared: {json.dumps(ingested)}", file=sys.stderr)
            if ingested["errors"] or not ingested["chunks"]:
                raise SystemExit("preparing the collection failed")

        numbers = itertools.count(1)
        failures: list[dict[str, Any]] = []

        async def ask(query: str, agent: str) -> str | None:
            body = {"collection": args.collection, "query": query, "top_k": args.top_k}
            response = await client.post("/v1/query", json=body, headers={"User-Agent": agent})
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
            if len(response.json().get("results", [])) < args.min_hits:
                return "too few hits"
            return None

        async def send(query: str) -> str | None:
            # Each request names itself in its User-Agent (the load balancer's access log shows
            # it), so a failure seen here can be found in that log.
            agent = f"{AGENT} request={next(numbers)}"
            try:
                problem = await ask(query, agent)
            except Exception as error:
                failures.append({"agent": agent, "kind": type(error).__name__, "error": str(error)})
                raise
            if problem is not None:
                failures.append({"agent": agent, "kind": problem})
            return problem

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        count = int(args.rate / 60 * args.duration)
        items = queries(random.Random(args.seed + 1), count)
        started = time.time()
        result = await fixed_rate(send, items, args.rate / 60, stop)
    figures = summary([result])
    return {
        "url": args.url,
        "collection": args.collection,
        "rate_per_min": args.rate,
        "started_at": started,
        "seconds": round(result.wall, 1),
        **figures,
        "error_times": result.error_times,
        "failures": failures,
    }


def show(figures: dict[str, Any]) -> None:
    ms = {k: figures[k] * 1000 for k in ("p50", "p95", "p99", "max", "mean")}
    print(
        f"{figures['url']} /v1/query at {figures['rate_per_min']:g}/min for {figures['seconds']} s:"
        f" sent {figures['sent']}, ok {figures['ok']}, errors {figures['errors']}"
        f" {figures['error_kinds'] or ''}\n"
        f"  achieved {figures['achieved_per_min']:.1f}/min;"
        f" latency P50 {ms['p50']:.0f} ms, P95 {ms['p95']:.0f} ms, P99 {ms['p99']:.0f} ms,"
        f" max {ms['max']:.0f} ms, mean {ms['mean']:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="base URL of the site (the load balancer)")
    parser.add_argument("--api-key", required=True, help="API key with the read scope")
    parser.add_argument("--collection", required=True)
    parser.add_argument("--rate", type=float, default=500.0, help="queries per minute")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (at most)")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--min-hits", type=int, default=1, help="hits a good answer has")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS")
    parser.add_argument("--ca-cert", help="CA bundle to verify the site's certificate with")
    parser.add_argument("--prepare", type=int, default=0, metavar="N", help="upload N docs first")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    show(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
