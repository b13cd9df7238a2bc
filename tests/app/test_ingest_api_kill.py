"""kill -9 of the API while uploads arrive, round after round: every upload that got its 202
becomes a ready document, the others leave nothing, and the stores agree with the catalog
(docs/architecture/ingestion.md). A file of its own, so that pytest's two processes run it beside
the worker-kill rounds of test_ingest_durability.py (each takes minutes).

Rounds: RAGSTACK_CHAOS_ROUNDS (default 20).
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from deployments import CHAOS_ROUNDS as ROUNDS
from deployments import assert_consistent, make_collection, note, post


def test_api_killed_during_uploads_leaves_nothing_behind(deployment, chroma_server, redis_server):
    rng = random.Random(16)
    for round_number in range(ROUNDS):
        collection = f"kill-api-{round_number}"
        make_collection(deployment, collection)

        def send(i: int, c: str = collection) -> int:
            try:
                return post(deployment, c, f"n{i}.txt", note(i, c)).status_code
            except httpx.TransportError:
                return 0  # the API died under this request

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(send, range(100))
            time.sleep(rng.uniform(0.2, 3.0))
            deployment.kill_api()
            codes = list(results)
        deployment.start_api()
        report = deployment.reconcile()
        documents = assert_consistent(deployment, chroma_server, redis_server, collection)
        # Every upload that got its 202 became a ready document; the others left nothing.
        assert sum(c == 202 for c in codes) <= len(documents)
        assert all(d["status"] == "ready" for d in documents)
        print(f"round {round_number}: {codes.count(202)} accepted, {len(documents)} documents, "
              f"reconciler found {report['found']}")  # fmt: skip
