"""Chat: grounded answers with citations, SSE streaming, conversations, caching, degraded mode."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time

import httpx
import pytest
from async_run import run
from backend_helpers import upload
from servers import start_fake_llm

DOCS = {
    "ops.md": "# Operations\n\n## Backups\n\nBackups run nightly at 02:00 and are copied to the "
    "NAS in building B.\n\n## Patching\n\nServers are patched on the second Tuesday of the month.",
    "food.txt": "The cafeteria serves lunch from 11:30 to 14:00. Vegetarian options are daily.",
}


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream_chat(client: httpx.Client, body: dict) -> tuple[int, str, list[tuple[str, dict]]]:
    with client.stream("POST", "/v1/chat", json={**body, "stream": True}) as response:
        text = response.read().decode()
        return response.status_code, response.headers["content-type"], parse_sse(text)


def fill(client: httpx.Client, name: str) -> None:
    for filename, text in DOCS.items():
        assert upload(client, name, filename, text.encode()).status_code == 201


def llm_calls(llm) -> int:
    return httpx.get(f"{llm.url}/_stats").json()["chat_calls"]


def test_answer_cites_the_passage_used(client, new_collection):
    name = new_collection()
    fill(client, name)
    response = client.post("/v1/chat", json={"collection": name, "message": "When do backups run?"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["mode"] == "llm" and answer["degraded"] is False
    assert "02:00" in answer["answer"] and "[1]" in answer["answer"]
    first = answer["citations"][0]
    assert first["index"] == 1 and first["filename"] == "ops.md"
    assert first["section"] == "Operations > Backups" and "02:00" in first["snippet"]
    assert len(answer["citations"]) == 1  # exactly the passages cited


def test_conversation_history_is_kept(client, new_collection):
    name = new_collection()
    fill(client, name)
    first = client.post("/v1/chat", json={"collection": name, "message": "When do backups run?"})
    conversation_id = first.json()["conversation_id"]
    second = client.post(
        "/v1/chat",
        json={"collection": name, "message": "And patching?", "conversation_id": conversation_id},
    )
    assert second.json()["conversation_id"] == conversation_id
    history = client.get(f"/v1/conversations/{conversation_id}").json()
    assert history["id"] == conversation_id
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    assert history["messages"][0]["content"] == "When do backups run?"
    assert history["messages"][1]["citations"][0]["filename"] == "ops.md"
    assert client.get("/v1/conversations/doesnotexist").status_code == 404


def test_streaming_events_in_order(client, new_collection):
    name = new_collection()
    fill(client, name)
    body = {"collection": name, "message": "When is lunch served?"}
    status, content_type, events = stream_chat(client, body)
    assert status == 200 and content_type.startswith("text/event-stream")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "citations" and kinds[-1] == "done"
    # Nothing is cited before the answer names a passage; then the list comes with its token.
    assert events[0][1]["citations"] == []
    assert kinds[1:-1] == ["token"] * (len(kinds) - 4) + ["citations", "token"]
    citations = events[0][1]
    assert [c["filename"] for c in events[-3][1]["citations"]] == ["food.txt"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert "11:30" in streamed and streamed.endswith("[1]") and events[-2][1]["text"] == " [1]"
    done = events[-1][1]
    assert done == {
        "mode": "llm",
        "degraded": False,
        "conversation_id": citations["conversation_id"],
        "excluded": 0,
    }
    saved = client.get(f"/v1/conversations/{done['conversation_id']}").json()
    assert saved["messages"][-1]["content"] == streamed
    assert saved["messages"][-1]["citations"] == events[-3][1]["citations"]


def test_answer_cache_is_invalidated_by_ingestion(client, new_collection, fake_llm):
    name = new_collection()
    fill(client, name)
    body = {"collection": name, "message": "When are servers patched?"}
    before = llm_calls(fake_llm)
    first = client.post("/v1/chat", json=body).json()
    second = client.post("/v1/chat", json=body).json()
    assert llm_calls(fake_llm) == before + 1  # second answer came from the cache
    assert second["answer"] == first["answer"]
    assert second["conversation_id"] != first["conversation_id"]
    upload(client, name, "new.txt", b"Patching moved to the first Monday of the month.")
    client.post("/v1/chat", json=body)
    assert llm_calls(fake_llm) == before + 2  # new index version: cache missed


def test_query_cache_is_invalidated_by_ingestion(client, new_collection, backend_server):
    name = new_collection()
    fill(client, name)
    body = {"collection": name, "query": "where are the backups copied", "top_k": 5}
    first = client.post("/v1/query", json=body).json()["results"]
    assert {h["filename"] for h in first} == {"ops.md", "food.txt"}

    def hits() -> float:
        series = 'ragstack_cache_requests_total{cache="query",result="hit"}'
        for line in httpx.get(f"{backend_server.url}/metrics").text.splitlines():
            if line.startswith(series):
                return float(line.split()[-1])
        return 0.0

    hits_before = hits()
    # The cache is written after the response is sent: repeat until the entry is there.
    for _ in range(20):
        assert client.post("/v1/query", json=body).json()["results"] == first
        if hits() > hits_before:
            break
    assert hits() == hits_before + 1
    upload(client, name, "dr.txt", b"Backup copies also go to the offsite vault in Zurich.")
    again = client.post("/v1/query", json=body).json()["results"]
    assert "dr.txt" in {h["filename"] for h in again}
    client.delete(f"/v1/collections/{name}/documents/{again[0]['document_id']}")
    after_delete = client.post("/v1/query", json=body).json()["results"]
    assert again[0]["document_id"] not in {h["document_id"] for h in after_delete}


def test_empty_collection_answers_without_500(client, new_collection):
    name = new_collection()
    answer = client.post("/v1/chat", json={"collection": name, "message": "anything?"}).json()
    assert answer["mode"] == "extractive" and answer["citations"] == []
    assert "nothing" in answer["answer"]


@pytest.fixture(scope="module")
def flaky_llm(servers_dir):
    server = start_fake_llm(servers_dir / "flaky-llm")
    yield server
    server.stop()


def set_mode(llm, mode: str) -> None:
    httpx.post(f"{llm.url}/_control", json={"mode": mode, "reset_stats": True})


def check_extractive(answer: dict) -> None:
    assert answer["mode"] == "extractive" and answer["degraded"] is True
    assert answer["answer"].startswith("Backups run nightly at 02:00 and are copied to the NAS")
    assert answer["answer"].endswith(". [1]") and "#" not in answer["answer"]
    assert [c["filename"] for c in answer["citations"]] == ["ops.md"]


@pytest.fixture(scope="module")
def llm_down_backend(backend_factory):
    return backend_factory(
        env={
            "RAGSTACK_LLM_PROVIDER": "ollama",
            "RAGSTACK_LLM_BASE_URL": "http://127.0.0.1:1",  # nothing listens on port 1
            "RAGSTACK_LLM_MAX_RETRIES": "1",
            "RAGSTACK_LLM_RETRY_BACKOFF_SECONDS": "0.01",
        }
    )


@pytest.mark.parametrize("which", ["no-llm", "llm-down"])
def test_degraded_extractive_answers(which, constrained_backend, llm_down_backend):
    backend = constrained_backend if which == "no-llm" else llm_down_backend
    with backend.client() as client:
        client.delete("/v1/collections/degraded")
        client.post("/v1/collections", json={"name": "degraded"})
        fill(client, "degraded")
        body = {"collection": "degraded", "message": "When do backups run?"}
        response = client.post("/v1/chat", json=body)
        assert response.status_code == 200
        check_extractive(response.json())
        status, _, events = stream_chat(client, body)
        assert status == 200
        assert events[-1][0] == "done"
        assert events[-1][1]["mode"] == "extractive" and events[-1][1]["degraded"] is True
        streamed = "".join(d["text"] for k, d in events if k == "token")
        assert streamed == response.json()["answer"]
        assert [k for k, _ in events].count("citations") == 2
        assert events[-3][1]["citations"] == response.json()["citations"]


def test_failing_llm_retries_then_breaker_opens(backend_factory, flaky_llm):
    backend = backend_factory(
        env={
            "RAGSTACK_LLM_MAX_RETRIES": "1",
            "RAGSTACK_LLM_RETRY_BACKOFF_SECONDS": "0.01",
            "RAGSTACK_LLM_BREAKER_FAILURES": "2",
            "RAGSTACK_LLM_BREAKER_RESET_SECONDS": "600",
            "RAGSTACK_CACHE_TTL_SECONDS": "0",
        },
        llm=flaky_llm,
    )
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "flaky"})
        fill(client, "flaky")
        body = {"collection": "flaky", "message": "When do backups run?"}
        set_mode(flaky_llm, "fail")
        try:
            check_extractive(client.post("/v1/chat", json=body).json())
            assert llm_calls(flaky_llm) == 2  # one call + one retry
            check_extractive(client.post("/v1/chat", json=body).json())
            assert llm_calls(flaky_llm) == 4  # second failure opens the breaker
            check_extractive(client.post("/v1/chat", json=body).json())
            assert llm_calls(flaky_llm) == 4  # open: the LLM is not called at all
            ready = httpx.get(f"{backend.url}/ready").json()
            assert ready["status"] == "ready" and "circuit open" in ready["checks"]["llm"]["detail"]
        finally:
            set_mode(flaky_llm, "ok")


def test_stream_broken_midway_is_retracted_for_the_extractive_answer(backend_factory, flaky_llm):
    backend = backend_factory(env={"RAGSTACK_LLM_MAX_RETRIES": "0"}, llm=flaky_llm)
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "broken"})
        fill(client, "broken")
        set_mode(flaky_llm, "break")
        try:
            status, _, events = stream_chat(
                client, {"collection": "broken", "message": "When do backups run?"}
            )
        finally:
            set_mode(flaky_llm, "ok")
    assert status == 200
    kinds = [k for k, _ in events]
    assert kinds[0] == "citations" and "error" not in kinds
    retract = kinds.index("retract")
    assert "token" in kinds[:retract], "the model's first tokens were streamed"
    after = "".join(d["text"] for k, d in events[retract:] if k == "token")
    assert after.startswith("Backups run nightly at 02:00") and after.endswith("[1]")
    assert events[-1] == (
        "done",
        {
            "mode": "extractive",
            "degraded": True,
            "conversation_id": events[0][1]["conversation_id"],
            "excluded": 0,
        },
    )


# A model that hangs, answers garbage, or never stops: with 2 tries and a 2 s budget the answer
# comes from the passages once the budget is spent (per-try timeouts took 3 x 2 s and more).
DEADLINE_ENV = {
    "RAGSTACK_LLM_TIMEOUT_SECONDS": "2",
    "RAGSTACK_LLM_MAX_RETRIES": "2",
    "RAGSTACK_LLM_RETRY_BACKOFF_SECONDS": "0.2",
    "RAGSTACK_LLM_BREAKER_FAILURES": "100",
    "RAGSTACK_CACHE_TTL_SECONDS": "0",
}


@pytest.fixture(scope="module")
def deadline_backend(backend_factory, flaky_llm):
    backend = backend_factory(env=DEADLINE_ENV, llm=flaky_llm)
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "deadline"})
        fill(client, "deadline")
    return backend


@pytest.mark.parametrize(
    ("mode", "stream"),
    [("hang", False), ("garbage", False), ("hang", True), ("garbage", True), ("trickle", True)],
    ids=["hang-whole", "garbage-whole", "hang-stream", "garbage-stream", "trickle-stream"],
)
def test_one_deadline_per_answer(deadline_backend, flaky_llm, mode, stream):
    body = {"collection": "deadline", "message": "When do backups run?"}
    set_mode(flaky_llm, mode)
    try:
        with deadline_backend.client() as client:
            started = time.monotonic()
            if stream:
                status, _, events = stream_chat(client, body)
                answer = "".join(d["text"] for k, d in events if k == "token")
                if "retract" in [k for k, _ in events]:
                    retract = [k for k, _ in events].index("retract")
                    answer = "".join(d["text"] for k, d in events[retract:] if k == "token")
                done = events[-1]
                assert done[0] == "done" and done[1]["degraded"] is True, events[-3:]
            else:
                response = client.post("/v1/chat", json=body)
                status, answer = response.status_code, response.json()["answer"]
                assert response.json()["degraded"] is True
            elapsed = time.monotonic() - started
    finally:
        set_mode(flaky_llm, "ok")
    assert status == 200
    assert answer.startswith("Backups run nightly at 02:00"), answer
    assert elapsed < 4.5, f"{mode}: answered after {elapsed:.1f} s with a 2 s budget"


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_invented_citations_are_dropped(provider, backend_factory, flaky_llm):
    url = flaky_llm.url + ("/v1" if provider == "openai" else "")
    backend = backend_factory(
        env={
            "RAGSTACK_LLM_PROVIDER": provider,
            "RAGSTACK_LLM_BASE_URL": url,
            "RAGSTACK_CACHE_TTL_SECONDS": "0",
        },
        llm=flaky_llm,
    )
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "invent"})
        fill(client, "invent")
        body = {"collection": "invent", "message": "When do backups run?", "top_k": 2}
        set_mode(flaky_llm, "invent")
        try:
            answer = client.post("/v1/chat", json=body).json()
            status, _, events = stream_chat(client, body)
        finally:
            set_mode(flaky_llm, "ok")
    # The model was given passages [1] and [2]; it cited [1], [7], [0], [2, 99].
    assert answer["mode"] == "llm"
    assert answer["answer"].startswith("According to the documents, Backups run nightly")
    assert answer["answer"].endswith("[1] Also and [2].")
    assert not {"[7]", "[0]", "[99]", "[3]"} & set(re.findall(r"\[\d+\]", answer["answer"]))
    cited = answer["citations"]
    assert [c["index"] for c in cited] == [1, 2] and cited[0]["section"] == "Operations > Backups"
    assert cited[0]["chunk_id"] != cited[1]["chunk_id"]
    assert status == 200 and events[-1][0] == "done"
    streamed = "".join(d["text"] for k, d in events if k == "token")
    assert re.findall(r"\[\d+\]", streamed) == ["[1]", "[2]"]
    lists = [d["citations"] for k, d in events if k == "citations"]
    assert [len(c) for c in lists] == [0, 1, 2] and lists[-1] == answer["citations"]


@pytest.fixture(scope="module")
def slow_llm(servers_dir):
    server = start_fake_llm(servers_dir / "slow-llm")
    set_mode(server, "slow")  # 2 s per answer
    yield server
    server.stop()


def busy_backend(backend_factory, slow_llm, queue_seconds: str, name: str):
    """Two workers sharing one generation slot, with the collection ``name`` filled."""
    backend = backend_factory(
        env={
            "RAGSTACK_LLM_MAX_CONCURRENT_GENERATIONS": "1",
            "RAGSTACK_LLM_QUEUE_SECONDS": queue_seconds,
            "RAGSTACK_CACHE_TTL_SECONDS": "0",
            "RAGSTACK_LLM_MAX_RETRIES": "0",
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="metrics-"),
        },
        workers=2,
        llm=slow_llm,
    )
    with backend.client() as client:
        client.post("/v1/collections", json={"name": name})
        fill(client, name)
    return backend


def chats_at_once(backend, name: str, streamed: list[bool]) -> tuple[list[httpx.Response], float]:
    """One chat request per entry of ``streamed``, all at once; their responses and the time."""
    headers = {"X-API-Key": backend.keys["read"]}
    body = {"collection": name, "message": "When do backups run?"}

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=backend.url, headers=headers, timeout=30) as client:
            requests = (client.post("/v1/chat", json={**body, "stream": s}) for s in streamed)
            return await asyncio.gather(*requests)

    started = time.monotonic()
    responses = run(send())
    return responses, time.monotonic() - started


def test_beyond_the_limit_requests_get_503_with_retry_after(backend_factory, slow_llm):
    backend = busy_backend(backend_factory, slow_llm, "0.5", "busy")
    # Two workers, one slot per host: the limit holds across processes.
    responses, elapsed = chats_at_once(backend, "busy", [False, True, False, False])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503, 503, 503], [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 503):
        assert refused.headers["Retry-After"] == "1" and "busy" in refused.json()["detail"]
    assert elapsed < 4  # one 2 s answer; the others were refused after 0.5 s, not timed out
    ok = next(r for r in responses if r.status_code == 200)
    assert re.search(r'"mode": ?"llm"', ok.text)
    metrics = httpx.get(f"{backend.url}/metrics").text
    assert re.search(r"^ragstack_llm_rejected_total 3\.0$", metrics, re.M), metrics[-2000:]


def test_within_the_queue_time_requests_wait_their_turn(backend_factory, slow_llm):
    backend = busy_backend(backend_factory, slow_llm, "10", "queued")
    responses, elapsed = chats_at_once(backend, "queued", [False, True])
    assert [r.status_code for r in responses] == [200, 200]
    assert elapsed >= 4  # one after the other: 2 s each
    assert all(re.search(r'"mode": ?"llm"', r.text) for r in responses)
    metrics = httpx.get(f"{backend.url}/metrics").text
    assert "ragstack_llm_generations_in_flight 0.0" in metrics
