"""Retrieval correctness: for known questions the right document ranks first."""

from __future__ import annotations

import pytest
from backend_helpers import upload

CORPUS = {
    "vpn.md": "# VPN\n\nTo connect to the VPN install WireGuard and import the profile from the "
    "self-service portal. The VPN gateway is vpn.corp.example on UDP port 51820.",
    "payroll.txt": "Salaries are paid on the 25th of each month. Payslips are available in the "
    "HR portal two days earlier. Bonus payments happen in March.",
    "kitchen.txt": "The office kitchen dishwasher must be emptied by whoever finds it clean. "
    "Coffee beans are restocked every Tuesday by the facilities team.",
    "backup.md": "# Backups\n\nDatabase backups are taken every night at 01:30 with pgBackRest and "
    "kept for 35 days. Restores are tested monthly.",
    "security.md": "# Security\n\nPasswords must be at least 14 characters. Multi-factor "
    "authentication with a hardware key is mandatory for administrators.",
    "onboarding.txt": "New employees receive their laptop on the first day. The buddy program "
    "pairs each newcomer with a colleague for six weeks.",
}
QUESTIONS = [
    ("which port does the vpn gateway use", "vpn.md"),
    ("when do I get my salary", "payroll.txt"),
    ("who restocks the coffee", "kitchen.txt"),
    ("how long are database backups retained", "backup.md"),
    ("minimum password length", "security.md"),
    ("what happens on my first day as a new hire", "onboarding.txt"),
    ("is MFA required for admins", "security.md"),
    ("pgBackRest", "backup.md"),
]


@pytest.fixture(scope="module")
def corpus(backend_server):
    with backend_server.client() as client:
        name = "retrieval-corpus"
        client.delete(f"/v1/collections/{name}")
        assert client.post("/v1/collections", json={"name": name}).status_code == 201
        for filename, text in CORPUS.items():
            assert upload(client, name, filename, text.encode()).status_code == 201
        yield name
        client.delete(f"/v1/collections/{name}")


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
def test_right_document_first(client, corpus, question, expected):
    response = client.post("/v1/query", json={"collection": corpus, "query": question, "top_k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["filename"] == expected, [r["filename"] for r in results]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)


def test_top_k_limits_results(client, corpus):
    for k in (1, 4):
        body = {"collection": corpus, "query": "office", "top_k": k}
        assert len(client.post("/v1/query", json=body).json()["results"]) == k


def test_hit_shape(client, corpus):
    body = {"collection": corpus, "query": "vpn", "top_k": 1}
    (hit,) = client.post("/v1/query", json=body).json()["results"]
    assert set(hit) == {
        "chunk_id",
        "document_id",
        "filename",
        "title",
        "page",
        "section",
        "text",
        "score",
        "flagged",
    }
    assert hit["title"] == "VPN" and hit["section"] == "VPN" and hit["flagged"] is False


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_mode_finds_the_right_document(client, corpus, mode):
    body = {"collection": corpus, "query": "pgBackRest backups retained", "mode": mode}
    results = client.post("/v1/query", json=body).json()["results"]
    assert results[0]["filename"] == "backup.md", (mode, results)


def test_lexical_matches_words_and_dense_matches_meaning(client, corpus):
    # No word in common with the kitchen note: only the embeddings can connect them.
    paraphrase = {"collection": corpus, "query": "espresso supplies refilled weekly"}
    lexical = client.post("/v1/query", json={**paraphrase, "mode": "lexical"}).json()["results"]
    dense = client.post("/v1/query", json={**paraphrase, "mode": "dense"}).json()["results"]
    assert "kitchen.txt" not in [r["filename"] for r in lexical]
    assert dense[0]["filename"] == "kitchen.txt"
    # Query syntax is not interpreted: quotes, fields and operators are plain words.
    hostile = {"collection": corpus, "query": 'text:"vpn AND (port OR', "mode": "lexical"}
    response = client.post("/v1/query", json=hostile)
    assert response.status_code == 200 and response.json()["results"][0]["filename"] == "vpn.md"


def test_group_by_document_returns_distinct_documents(client, new_collection):
    name = new_collection()
    paragraph = "Paragraph {} about the storage quota of volumes. "
    long_text = "\n\n".join(paragraph.format(i) * 8 for i in range(8))
    assert upload(client, name, "quota.txt", long_text.encode()).status_code == 201
    assert upload(client, name, "other.txt", b"Volumes have a storage quota.").status_code == 201
    body = {"collection": name, "query": "storage quota of volumes", "top_k": 5}
    chunks = client.post("/v1/query", json=body).json()["results"]
    assert len({r["document_id"] for r in chunks}) < len(chunks)  # several chunks of quota.txt
    grouped = client.post("/v1/query", json={**body, "group_by_document": True}).json()["results"]
    assert sorted(r["filename"] for r in grouped) == ["other.txt", "quota.txt"]


def test_top_k_up_to_100(client, new_collection):
    name = new_collection()
    text = "\n\n".join(f"Note {i}: rotate the certificate of service {i}." * 12 for i in range(150))
    assert upload(client, name, "many.txt", text.encode()).status_code == 201
    body = {"collection": name, "query": "rotate certificate", "top_k": 100}
    results = client.post("/v1/query", json=body).json()["results"]
    info = client.get(f"/v1/collections/{name}").json()
    assert len(results) == min(100, info["chunk_count"]) > 50
