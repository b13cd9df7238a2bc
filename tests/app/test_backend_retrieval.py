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
    }
    assert hit["title"] == "VPN" and hit["section"] == "VPN"


def test_lexical_and_semantic_both_contribute():
    from ragstack.retrieval.fusion import reciprocal_rank_fusion

    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]], k=60)
    ids = [i for i, _ in fused]
    assert ids[0] == "c"  # in both lists beats first place in one
    assert set(ids) == {"a", "b", "c", "d"}
