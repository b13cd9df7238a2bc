"""Documents built to exhaust a parser end `failed` with a reason, and the worker stays small.

Each bomb passes the upload checks (size, declared expansion, compression ratio) and is parsed
by a real ``ragstack-worker`` in its sandbox (ingest/sandbox.py) with test-sized limits. The
worker's resident memory is sampled all along: parsing happens in children, so it must stay
within 256 MB of what it was before the bombs arrived.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import bombs
import pytest
from deployments import assert_consistent, deploy, make_collection, wait_settled
from ragstack.errors import PayloadTooLargeError
from ragstack.ingest.parsers import Limits
from ragstack.ingest.safety import PDF
from ragstack.ingest.sandbox import ParserSandbox, SandboxLimits

MIB = 1024 * 1024
LIMITS = {
    "RAGSTACK_PARSE_MEMORY_MB": "512",
    "RAGSTACK_PARSE_CPU_SECONDS": "4",
    "RAGSTACK_PARSE_TIMEOUT_SECONDS": "60",
}
# (filename, builder, what the failure says: one of)
BOMBS = [
    ("lying-headers.docx", bombs.lying_zip_docx, ("corrupt docx",)),
    ("huge-xml.docx", bombs.big_xml_docx, ("memory limit",)),
    ("deep-xml.docx", bombs.deep_xml_docx, ("depth",)),
    ("shared-stream-2000-pages.pdf", bombs.shared_stream_pdf, ("cpu time",)),
    # Its parse tree outgrows the memory limit, or (on a slower machine) first the CPU limit.
    ("element-flood.html", bombs.element_flood_html, ("of memory allowed", "cpu time")),
]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.05)


def test_bombs_fail_with_a_reason_and_the_worker_stays_small(
    servers_dir, redis_server, chroma_server
):
    deployment = deploy(servers_dir, redis_server, chroma_server, **LIMITS)
    try:
        make_collection(deployment, "bombs")
        with deployment.client() as client:
            # Warm up (the embedding model loads with the first document): that is "idle".
            warm = client.post(
                "/v1/collections/bombs/documents",
                files={"file": ("warm.txt", b"A normal note about lighthouses.", "text/plain")},
                params={"wait": 60},
            )
            assert warm.status_code == 201, warm.text
            idle = rss_bytes(deployment.worker.process.pid)
            sampler = Sampler(deployment.worker.process.pid)
            sampler.start()
            ids = {}
            for filename, build, _ in BOMBS:
                response = client.post(
                    "/v1/collections/bombs/documents",
                    files={"file": (filename, build(), "application/octet-stream")},
                )
                assert response.status_code == 202, f"{filename}: {response.text}"
                ids[filename] = response.json()["document"]["id"]
            documents = {d["id"]: d for d in wait_settled(client, "bombs", len(BOMBS) + 1)}
            sampler.done.set()
            sampler.join()
            after = client.post(
                "/v1/collections/bombs/documents",
                files={"file": ("after.txt", b"The worker still ingests notes.", "text/plain")},
                params={"wait": 60},
            )
        growth = sampler.peak - idle
        print(f"worker RSS idle {idle / MIB:.0f} MiB, peak {sampler.peak / MIB:.0f} MiB")
        for filename, _, reasons in BOMBS:
            document = documents[ids[filename]]
            assert document["status"] == "failed", (filename, document)
            error = document["error"].lower()
            assert any(reason in error for reason in reasons), (filename, error)
        assert growth <= 256 * MIB, f"the worker grew by {growth / MIB:.0f} MiB"
        assert after.status_code == 201, after.text
        assert_consistent(deployment, chroma_server, redis_server, "bombs")
    finally:
        deployment.stop()


def test_the_wall_clock_budget_stops_a_slow_parse(tmp_path):
    """CPU time is plenty here; the wall-clock budget is what ends the parse."""
    path = tmp_path / "slow.pdf"
    path.write_bytes(bombs.shared_stream_pdf())
    limits = SandboxLimits(
        parse=Limits(20_000_000, 2000, 200 * MIB, 64 * MIB),
        chunk_size=800,
        chunk_overlap=120,
        memory_bytes=512 * MIB,
        cpu_seconds=600,
        wall_seconds=1.5,
    )
    sandbox = ParserSandbox(limits, 1)
    try:
        started = time.monotonic()
        with pytest.raises(PayloadTooLargeError, match=r"longer than 1\.5 s"):
            asyncio.run(sandbox.parse(PDF.content_type, path))
        assert time.monotonic() - started < 30
    finally:
        sandbox.close()
