"""Ingestion of every supported format, dedup, replacement, metadata, listing, deletion, jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backend_helpers import make_docx, make_pdf, upload


def _query(client, collection, text, **extra):
    response = client.post("/v1/query", json={"collection": collection, "query": text, **extra})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_plain_text(client, new_collection):
    name = new_collection()
    response = upload(client, name, "notes.txt", b"The boiler room key hangs in locker 12.")
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["status"] == "ready" and doc["chunk_count"] == 1
    assert doc["content_type"] == "text/plain" and doc["title"] == "notes"
    assert doc["size_bytes"] == 39 and len(doc["sha256"]) == 64
    (hit,) = _query(client, name, "where is the boiler room key", top_k=1)
    assert hit["document_id"] == doc["id"] and "locker 12" in hit["text"]


def test_markdown_sections(client, new_collection):
    name = new_collection()
    text = (
        b"# Deploy guide\n\nIntro text.\n\n## Database\n\nPostgres listens on port 5433.\n\n"
        b"## Cache\n\n### Eviction\n\nRedis evicts with allkeys-lru.\n"
    )
    doc = upload(client, name, "deploy.md", text, "text/markdown").json()
    assert doc["title"] == "Deploy guide"
    (hit,) = _query(client, name, "redis eviction policy", top_k=1)
    assert hit["section"] == "Deploy guide > Cache > Eviction"
    assert hit["title"] == "Deploy guide"


def test_html(client, new_collection):
    name = new_collection()
    html = b"""<!doctype html><html><head><title>Office handbook</title>
    <script>var secret = "do not index";</script><style>p{color:red}</style></head>
    <body><h1>Handbook</h1><h2>Parking</h2><p>Visitors park on level -2.</p>
    <h2>Wifi</h2><p>The guest network is called lobby-guest.</p></body></html>"""
    doc = upload(client, name, "handbook.html", html, "text/html").json()
    assert doc["title"] == "Office handbook" and doc["status"] == "ready"
    (hit,) = _query(client, name, "where do visitors park", top_k=1)
    assert "level -2" in hit["text"] and hit["section"] == "Handbook > Parking"
    assert _query(client, name, "secret do not index") == [] or all(
        "do not index" not in h["text"] for h in _query(client, name, "secret do not index")
    )


def test_pdf_pages(client, new_collection):
    name = new_collection()
    pdf = make_pdf(
        [
            "Chapter one talks about onboarding and laptops.",
            "The VPN concentrator is rebooted every Sunday at 04:00.",
        ],
        title="IT manual",
    )
    doc = upload(client, name, "manual.pdf", pdf, "application/pdf").json()
    assert doc["status"] == "ready" and doc["title"] == "IT manual"
    assert doc["content_type"] == "application/pdf"
    (hit,) = _query(client, name, "when is the VPN concentrator rebooted", top_k=1)
    assert hit["page"] == 2 and "Sunday" in hit["text"]


def test_docx_headings(client, new_collection):
    name = new_collection()
    data = make_docx(
        "Travel policy",
        [("Flights", "Economy class for flights under six hours."), ("Hotels", "Max 150 EUR.")],
    )
    doc = upload(client, name, "travel.docx", data).json()
    assert doc["status"] == "ready" and doc["title"] == "Travel policy"
    (hit,) = _query(client, name, "which class for flights", top_k=1)
    assert hit["section"] == "Flights" and "Economy" in hit["text"]


def test_identical_content_is_deduplicated(client, new_collection):
    name = new_collection()
    first = upload(client, name, "a.txt", b"Same bytes twice.")
    second = upload(client, name, "b.txt", b"Same bytes twice.")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    info = client.get(f"/v1/collections/{name}").json()
    assert info["document_count"] == 1 and info["chunk_count"] == 1


def test_reupload_same_name_replaces(client, new_collection, backend_server):
    name = new_collection()
    old = upload(client, name, "policy.txt", b"Expense reports are due on Friday.").json()
    new = upload(client, name, "policy.txt", b"Expense reports are due on Monday.").json()
    assert new["id"] != old["id"]
    hits = _query(client, name, "when are expense reports due")
    assert [h["document_id"] for h in hits] == [new["id"]]
    assert "Monday" in hits[0]["text"]
    assert client.get(f"/v1/collections/{name}/documents/{old['id']}").status_code == 404
    info = client.get(f"/v1/collections/{name}").json()
    assert info["document_count"] == 1
    originals = Path(backend_server.extra["workdir"], "data", "originals", name)
    assert [p.name for p in originals.iterdir()] == [new["id"]]
    # Stored under a fixed name: no client-chosen name reaches the filesystem.
    assert (originals / new["id"] / "original.txt").read_bytes().endswith(b"Monday.")


def test_metadata_stored_and_filterable(client, new_collection):
    name = new_collection()
    upload(client, name, "eu.txt", b"Servers restart at night.", metadata='{"region": "eu"}')
    upload(client, name, "us.txt", b"Servers restart at noon.", metadata='{"region": "us"}')
    hits = _query(client, name, "when do servers restart", filters={"region": "us"})
    assert {h["filename"] for h in hits} == {"us.txt"}
    listed = client.get(f"/v1/collections/{name}/documents", params={"metadata.region": "eu"})
    assert [d["filename"] for d in listed.json()["items"]] == ["eu.txt"]
    assert listed.json()["items"][0]["metadata"] == {"region": "eu"}


def test_list_pagination_get_and_delete(client, new_collection):
    name = new_collection()
    ids = [
        upload(client, name, f"doc{i}.txt", f"Document number {i} about owls.".encode()).json()[
            "id"
        ]
        for i in range(5)
    ]
    page = client.get(f"/v1/collections/{name}/documents", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [d["id"] for d in page["items"]] == ids[1:3]
    got = client.get(f"/v1/collections/{name}/documents/{ids[0]}").json()
    assert got["filename"] == "doc0.txt"
    assert client.delete(f"/v1/collections/{name}/documents/{ids[0]}").status_code == 204
    assert client.get(f"/v1/collections/{name}/documents/{ids[0]}").status_code == 404
    assert ids[0] not in {h["document_id"] for h in _query(client, name, "owls", top_k=10)}
    assert client.get(f"/v1/collections/{name}").json()["document_count"] == 4


def test_upload_is_accepted_as_a_job_then_ingested(constrained_backend):
    with constrained_backend.client() as client:
        assert client.post("/v1/collections", json={"name": "jobs-test"}).status_code == 201
        body = ("Paragraph about maintenance windows. " * 20 + "\n\n") * 10
        body += "The magic number for the background job test is 4817."
        response = upload(client, "jobs-test", "big.txt", body.encode(), wait=None)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["document"]["status"] in ("queued", "processing")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{accepted['job_id']}").json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        doc = client.get(f"/v1/collections/jobs-test/documents/{job['document_id']}").json()
        assert doc["status"] == "ready" and doc["chunk_count"] > 1
        hits = _query(client, "jobs-test", "magic number background job", top_k=1)
        assert "4817" in hits[0]["text"]
        assert client.get("/v1/jobs/unknownjob").status_code == 404


def test_background_job_failure_is_reported(constrained_backend):
    with constrained_backend.client() as client:
        client.post("/v1/collections", json={"name": "jobs-fail"})
        # Valid header, garbage body: only the parser (in the background) can tell.
        response = upload(
            client, "jobs-fail", "broken.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 200, wait=None
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job["status"] == "failed" and "PDF" in job["error"]
        doc = client.get(f"/v1/collections/jobs-fail/documents/{job['document_id']}").json()
        assert doc["status"] == "failed"
        info = client.get("/v1/collections/jobs-fail").json()
        assert info["chunk_count"] == 0 and info["document_count"] == 0
        originals = Path(constrained_backend.extra["workdir"], "data", "originals", "jobs-fail")
        assert not any(originals.glob("*/*")), "a failed upload leaves no file"


def test_metadata_must_be_a_flat_object(client, new_collection):
    name = new_collection()
    for bad in ['["list"]', '{"nested": {"a": 1}}', "{not json", '{"bad key!": 1}']:
        response = upload(client, name, "m.txt", b"text", metadata=bad)
        assert response.status_code == 400, (bad, response.text)
    assert json.loads(client.get(f"/v1/collections/{name}").text)["document_count"] == 0


def test_replacement_is_atomic_for_concurrent_queries(backend_server, client, new_collection):
    import threading

    name = new_collection()

    def version(n: int) -> bytes:
        paragraphs = [
            f"Lighthouse manual version {n} part {k}. " + "Lamp care. " * 60 for k in range(3)
        ]
        return "\n\n".join(paragraphs).encode()

    assert upload(client, name, "manual.txt", version(0)).json()["chunk_count"] == 3
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def query_loop() -> None:
        with backend_server.client() as reader:
            while not stop.is_set():
                body = {"collection": name, "query": "lighthouse manual version part", "top_k": 10}
                hits = reader.post("/v1/query", json=body).json()["results"]
                seen.append((len(hits), len({h["document_id"] for h in hits})))

    thread = threading.Thread(target=query_loop)
    thread.start()
    try:
        for n in range(1, 6):
            assert upload(client, name, "manual.txt", version(n)).status_code == 201
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 5
    # Every answer saw exactly one version of the document, whole: never both, never neither.
    assert set(seen) == {(3, 1)}, seen
    final = _query(client, name, "lighthouse manual version part", top_k=10)
    assert all("version 5" in h["text"] for h in final)
