"""Retrieval quality regression gate on a small set the project wrote (tests/app/fixtures), scored
with ranx like bench/quality.py. The development figures on SciFact are in bench/RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backend_helpers import upload
from ranx import Qrels, Run, evaluate

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "retrieval.json").read_text())
# Measured on this fixture when the gate was set (nDCG@10: dense 1.00, lexical 0.86, hybrid
# 1.00); a regression of more than 0.05 fails.
FLOORS = {"dense": 0.95, "lexical": 0.81, "hybrid": 0.95}


@pytest.fixture(scope="module")
def fixture_collection(backend_server):
    with backend_server.client() as client:
        name = "quality-fixture"
        client.delete(f"/v1/collections/{name}")
        assert client.post("/v1/collections", json={"name": name}).status_code == 201
        for doc_id, text in FIXTURE["documents"].items():
            assert upload(client, name, f"{doc_id}.txt", text.encode()).status_code == 201
        yield name
        client.delete(f"/v1/collections/{name}")


def scores(client, collection: str) -> dict[str, float]:
    qrels = Qrels({str(i): {d: 1 for d in q["relevant"]} for i, q in enumerate(FIXTURE["queries"])})
    found = {}
    for mode in FLOORS:
        run: dict[str, dict[str, float]] = {}
        for i, query in enumerate(FIXTURE["queries"]):
            body = {
                "collection": collection,
                "query": query["text"],
                "top_k": 10,
                "mode": mode,
                "group_by_document": True,
            }
            hits = client.post("/v1/query", json=body).json()["results"]
            run[str(i)] = {
                h["filename"].removesuffix(".txt"): 1.0 / rank for rank, h in enumerate(hits, 1)
            } or {"-": 0.0}
        found[mode] = evaluate(qrels, Run(run), "ndcg@10")
    return found


def test_quality_does_not_regress(client, fixture_collection):
    found = scores(client, fixture_collection)
    print(f"\nnDCG@10 on the fixture: {found}")
    for mode, floor in FLOORS.items():
        assert found[mode] >= floor, (mode, found)
    assert found["hybrid"] >= max(found["dense"], found["lexical"]) - 0.02, found
