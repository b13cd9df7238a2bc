"""Helpers shared by the backend tests: uploads, generated PDF/DOCX files, index state."""

from __future__ import annotations

import io

import httpx


def upload(
    client: httpx.Client,
    collection: str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    metadata: str | None = None,
    wait: float | None = 60,
) -> httpx.Response:
    """Upload; by default wait (up to 60 s) for the worker: 201 ready, 4xx failed, 200 dedup.
    ``wait=None``: the plain 202 with the job."""
    form = {"metadata": metadata} if metadata is not None else None
    return client.post(
        f"/v1/collections/{collection}/documents",
        files={"file": (filename, data, content_type)},
        data=form,
        params={"wait": wait} if wait else None,
    )


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def make_docx(title: str, sections: list[tuple[str, str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for heading, body in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(body)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def index_state(client: httpx.Client, collection: str) -> tuple[int, int, list[str]]:
    """(document count, chunk count, sorted ids of ready documents): to check that a failure
    changed nothing a query can see (a failed upload stays listed as failed, with its reason)."""
    info = client.get(f"/v1/collections/{collection}").json()
    docs = client.get(f"/v1/collections/{collection}/documents", params={"limit": 100}).json()
    ready = sorted(d["id"] for d in docs["items"] if d["status"] == "ready")
    return info["document_count"], info["chunk_count"], ready
