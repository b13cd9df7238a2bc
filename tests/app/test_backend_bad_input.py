"""Every bad input gets a 4xx with a reason, and leaves the index and the data dir as they were."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from backend_helpers import index_state, make_docx, make_pdf, upload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GOOD_TEXT = b"Reference document about lighthouses and their keepers."


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret plans"]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bomb_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document>" + b"\x00" * 20_000_000)
    return buffer.getvalue()


def zip_without_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a word document")
    return buffer.getvalue()


# (case id, filename, content, declared content type, expected status, word in the reason)
UPLOADS = [
    (
        "unsupported-type",
        "tool.exe",
        b"MZ\x90\x00binary",
        "application/x-msdownload",
        415,
        "unsupported",
    ),
    ("no-extension", "README", b"plain words", "text/plain", 415, "unsupported"),
    ("pdf-named-txt", "report.txt", make_pdf(["hello"]), "text/plain", 415, "binary"),
    ("text-named-pdf", "report.pdf", b"just some text, no PDF here", "application/pdf", 415, "PDF"),
    ("text-named-docx", "memo.docx", b"plain text", "application/octet-stream", 415, "DOCX"),
    ("zip-named-docx", "memo.docx", zip_without_document(), "application/zip", 415, "DOCX"),
    ("declared-type-mismatch", "notes.txt", b"plain words", "image/png", 415, "does not match"),
    (
        "corrupt-pdf",
        "broken.pdf",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage",
        "application/pdf",
        400,
        "PDF",
    ),
    (
        "truncated-pdf",
        "cut.pdf",
        make_pdf(["some words here"])[:300],
        "application/pdf",
        400,
        "PDF",
    ),
    ("encrypted-pdf", "locked.pdf", encrypted_pdf(), "application/pdf", 400, "encrypted"),
    (
        "corrupt-docx",
        "bad.docx",
        b"PK\x03\x04" + b"\x00" * 100,
        "application/octet-stream",
        400,
        "DOCX",
    ),
    ("zip-bomb-docx", "bomb.docx", zip_bomb_docx(), "application/octet-stream", 413, "zip bomb"),
    ("empty-file", "empty.txt", b"", "text/plain", 400, "empty"),
    ("non-utf8-text", "latin1.txt", "café crème".encode("latin-1"), "text/plain", 400, "UTF-8"),
    ("binary-markdown", "x.md", b"\x01\x00binary\x00", "text/markdown", 415, "binary"),
    ("bad-utf16", "x.txt", b"\xff\xfe\x00\xd8", "text/plain", 400, "UTF-16"),
    ("slash-in-name", "dir/evil.txt", GOOD_TEXT, "text/plain", 400, "separator"),
    ("backslash-in-name", "dir\\evil.txt", GOOD_TEXT, "text/plain", 400, "separator"),
    ("dotdot-name", "..", GOOD_TEXT, "text/plain", 400, ".."),
    ("whitespace-only", "blank.txt", b"   \n\n  ", "text/plain", 400, "no text"),
    ("image-only-pdf", "scan.pdf", make_pdf([""]), "application/pdf", 400, "no text"),
]


@pytest.fixture(scope="module")
def seeded(backend_server):
    """A collection holding one good document, shared by the bad-input cases."""
    with backend_server.client() as client:
        name = "bad-input"
        client.delete(f"/v1/collections/{name}")
        client.post("/v1/collections", json={"name": name})
        assert upload(client, name, "good.txt", GOOD_TEXT).status_code == 201
        yield name
        client.delete(f"/v1/collections/{name}")


def originals(backend_server, collection: str) -> list[str]:
    root = Path(backend_server.extra["workdir"], "data", "originals", collection)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("filename", "content", "content_type", "status", "reason"),
    [case[1:] for case in UPLOADS],
    ids=[case[0] for case in UPLOADS],
)
def test_bad_upload(
    client, backend_server, seeded, filename, content, content_type, status, reason
):
    before = index_state(client, seeded), originals(backend_server, seeded)
    response = upload(client, seeded, filename, content, content_type)
    assert response.status_code == status, response.text
    assert reason.lower() in response.json()["detail"].lower()
    assert (index_state(client, seeded), originals(backend_server, seeded)) == before
    hits = client.post("/v1/query", json={"collection": seeded, "query": "lighthouses"}).json()
    assert [h["filename"] for h in hits["results"]] == ["good.txt"]


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        # 200 characters but 400 bytes: the name is a label, not a path on disk.
        ("é" * 196 + ".txt", b"Accented filename document about harbours."),
        ("....txt", b"Dotted filename document about breakwaters."),
        ("utf16.txt", "UTF-16 document about tides, with its byte order mark.".encode("utf-16")),
        ("utf32.md", "# Tides\n\nUTF-32 with a byte order mark.".encode("utf-32")),
    ],
    ids=["multibyte-name", "dots-name", "utf16-bom", "utf32-bom"],
)
def test_unusual_but_valid_upload(client, backend_server, seeded, filename, content):
    response = upload(client, seeded, filename, content, "text/plain")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["filename"] == filename
    assert originals(backend_server, seeded).count(document["id"]) == 1
    listed = client.get(f"/v1/collections/{seeded}/documents/{document['id']}").json()
    assert listed["status"] == "ready" and listed["chunk_count"] >= 1
    assert client.delete(f"/v1/collections/{seeded}/documents/{document['id']}").status_code == 204
    assert document["id"] not in originals(backend_server, seeded)


DEEP = '{"k":' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [('{"k": "\\ud800"}', "unicode"), (DEEP, "nested"), ("[1]", "object")],
    ids=["lone-surrogate", "deep", "not-object"],
)
def test_bad_metadata(client, backend_server, seeded, metadata, reason):
    before = index_state(client, seeded), originals(backend_server, seeded)
    response = upload(client, seeded, "meta.txt", b"A note about keepers.", metadata=metadata)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"].lower()
    assert (index_state(client, seeded), originals(backend_server, seeded)) == before


def test_docx_fixture_is_valid(client, seeded):
    # The zip-bomb case must fail on size, not because our DOCX builder is broken.
    ok = upload(client, seeded, "fine.docx", make_docx("T", [("H", "body text")]))
    assert ok.status_code == 201
    client.delete(f"/v1/collections/{seeded}/documents/{ok.json()['id']}")


def test_upload_to_unknown_collection(client):
    response = upload(client, "no-such-collection", "a.txt", GOOD_TEXT)
    assert response.status_code == 404 and "no-such-collection" in response.json()["detail"]


def test_upload_without_file_field(client, seeded):
    response = client.post(f"/v1/collections/{seeded}/documents", data={"metadata": "{}"})
    assert response.status_code == 422


@pytest.fixture(scope="module")
def small_limits(constrained_backend):
    backend = constrained_backend
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "limits"})
        yield backend, client


def test_oversize_upload_refused(small_limits):
    _, client = small_limits
    before = index_state(client, "limits")
    # Just over the limit: refused after reading.
    response = upload(client, "limits", "big.txt", b"a" * 20_001)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # Far over: refused from Content-Length alone.
    response = upload(client, "limits", "huge.txt", b"a" * 200_000)
    assert response.status_code == 413
    assert index_state(client, "limits") == before
    assert upload(client, "limits", "ok.txt", b"a small file").status_code == 201
    # Without wait: accepted at once, ingested by the worker.
    assert upload(client, "limits", "mid.txt", b"words " * 1000, wait=None).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"query": "x" * 2001},
        {"query": ""},
        {"query": "ok", "top_k": 0},
        {"query": "ok", "top_k": 101},
        {"query": "ok", "top_k": "five"},
        {"query": "ok", "top_k": True},
        {"query": "ok", "top_k": 5.0},
        {"query": "   \n\t "},
        {"query": "\u0000\u0000"},
        {"query": "ships\u0000"},
        {"query": "?!  ..."},
        {"query": "ok", "filters": {"bad key!": "x"}},
        {"query": "ok", "filters": {"k": {"nested": 1}}},
        {"query": "ok", "unknown_field": 1},
    ],
    ids=[
        "huge",
        "empty",
        "top_k-0",
        "top_k-101",
        "top_k-text",
        "top_k-bool",
        "top_k-float",
        "whitespace",
        "nul-only",
        "nul-inside",
        "punctuation",
        "filter-key",
        "filter-nested",
        "extra-field",
    ],
)
def test_bad_query(client, seeded, body):
    response = client.post("/v1/query", json={"collection": seeded, **body})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"message": "x" * 4001},
        {"message": "ok", "top_k": 21},
        {"message": "ok", "conversation_id": "../x"},
        {"message": " \n "},
        {"message": "ok", "stream": "yes"},
    ],
    ids=["huge-message", "top_k-21", "bad-conversation-id", "whitespace", "stream-text"],
)
def test_bad_chat(client, seeded, body):
    assert client.post("/v1/chat", json={"collection": seeded, **body}).status_code == 422


LONE_SURROGATE = b'"\\ud800"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/query", b'{"collection": "bad-input", "query": ' + LONE_SURROGATE + b"}"),
        ("/v1/chat", b'{"collection": "bad-input", "message": ' + LONE_SURROGATE + b"}"),
        ("/v1/collections", b'{"name": ' + LONE_SURROGATE + b"}"),
        ("/v1/collections", b'{"name": "fine-name", "description": ' + LONE_SURROGATE + b"}"),
        (
            "/v1/query",
            b'{"collection": "bad-input", "query": "ok", "filters": {'
            + LONE_SURROGATE
            + b': "x"}}',
        ),
        (
            "/v1/query",
            b'{"collection": "bad-input", "query": "ok", "filters": ' + DEEP.encode() + b"}",
        ),
        ("/v1/query", b"[" * 100_000 + b"]" * 100_000),
    ],
    ids=["query", "chat", "collection-name", "description", "filter-key", "deep", "deep-array"],
)
def test_hostile_json_is_a_4xx(client, seeded, path, body):
    before = client.get("/v1/collections").json()
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    assert client.get("/v1/collections").json() == before


def test_malformed_json(client):
    response = client.post(
        "/v1/query", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_bad_pagination(client, seeded):
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert client.get(f"/v1/collections/{seeded}/documents", params=params).status_code == 422


# Any Unicode, lone surrogates included: json.dumps escapes them (\ud800), as a hostile client may.
# (st.text never yields surrogates: they are drawn as code points.)
ANY_TEXT = st.lists(
    st.one_of(st.characters(codec=None), st.integers(0xD800, 0xDFFF).map(chr)), max_size=40
).map("".join)


@given(
    path=st.sampled_from(["/v1/query", "/v1/chat", "/v1/collections"]),
    value=ANY_TEXT,
    field=st.sampled_from(["query", "message", "name", "description", "collection"]),
)
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the client is stateless
)
def test_any_unicode_in_any_field_is_never_a_5xx(client, path, value, field):
    body = {"collection": "bad-input", "query": "ok", "message": "ok", "name": "x-y-z"}
    body = {**body, field: value}
    if path == "/v1/collections":
        body = {k: v for k, v in body.items() if k in {"name", "description"}}
    response = client.post(
        path,
        content=json.dumps(body, ensure_ascii=True),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if path == "/v1/collections" and response.status_code == 201:
        client.delete(f"/v1/collections/{body['name']}")
