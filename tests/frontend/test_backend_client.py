"""The UI's backend client: SSE parsing, error wording, and calls against the fake backend."""

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fake_backend import create_app
from pki import write_pki
from ragstack_ui.backend import (
    TIMED_OUT,
    UNREACHABLE,
    BackendClient,
    BackendError,
    Settings,
    SseEvent,
    SseParser,
    describe_error,
    detail_text,
    parse_retry_after,
    parse_sse,
)

# --- SSE ---------------------------------------------------------------------------------------


def test_sse_events_in_contract_order():
    stream = (
        'event: citations\ndata: {"citations": [], "conversation_id": "c1"}\n\n'
        'event: token\ndata: {"text": "Hel"}\n\n'
        'event: token\ndata: {"text": "lo"}\n\n'
        'event: done\ndata: {"mode": "llm", "degraded": false, "conversation_id": "c1"}\n\n'
    )
    events = list(parse_sse(stream.split("\n")))
    assert [e.event for e in events] == ["citations", "token", "token", "done"]
    assert "".join(e.data["text"] for e in events if e.event == "token") == "Hello"
    assert events[-1].data == {"mode": "llm", "degraded": False, "conversation_id": "c1"}


def test_sse_crlf_comments_multiline_data_and_missing_final_blank_line():
    lines = [
        ": keep-alive\r",
        "event: token\r",
        'data: {"text":\r',
        'data: "a b"}\r',
        "\r",
        "id: 7",
        "retry: 1000",
        "event: done",
        'data: {"mode": "extractive", "degraded": true}',
    ]
    events = list(parse_sse(lines))
    assert events == [
        SseEvent("token", {"text": "a b"}),
        SseEvent("done", {"mode": "extractive", "degraded": True}),
    ]


def test_sse_data_without_space_and_default_event_name():
    parser = SseParser()
    assert parser.feed('data:{"x": 1}') is None
    assert parser.feed("") == SseEvent("message", {"x": 1})
    assert parser.feed("") is None  # a lone blank line dispatches nothing


def test_sse_non_json_data_is_kept_as_text():
    assert list(parse_sse(["event: token", "data: plain words", ""])) == [
        SseEvent("token", {"text": "plain words"})
    ]


# --- error wording -----------------------------------------------------------------------------


def test_detail_text_flattens_validation_errors():
    body = {
        "detail": [
            {"loc": ["body", "name"], "msg": "String should have at least 3 characters"},
            {"loc": ["query", "limit"], "msg": "Input should be less than 101"},
        ]
    }
    assert detail_text(body) == (
        "name: String should have at least 3 characters; limit: Input should be less than 101"
    )
    assert detail_text({"detail": "collection 'x' not found"}) == "collection 'x' not found"


@pytest.mark.parametrize(
    ("status", "detail", "retry_after", "expected"),
    [
        (400, "encrypted PDF", None, "could not use this: encrypted PDF"),
        (401, "session expired", None, "Your session has ended: sign in again"),
        (403, "write scope required", None, "not allowed to do this (403): write scope required"),
        (404, "collection 'x' not found", None, "Not found: collection 'x' not found"),
        (409, "exists", None, "Conflict: exists"),
        (413, "max 20 MB", None, "too large for the backend: max 20 MB"),
        (415, "application/zip", None, "not supported: application/zip"),
        (429, "slow down", 7, "Try again in 7 s."),
        (429, "", None, "Try again soon."),
        (503, "chromadb down", None, "temporarily unavailable (503): chromadb down"),
        (500, "Traceback ...", None, "internal error (500)"),
    ],
)
def test_describe_error(status, detail, retry_after, expected):
    message = describe_error(status, detail, retry_after)
    assert expected in message
    if status == 500:
        assert "Traceback" not in message  # internals are not shown to people


def test_parse_retry_after():
    assert parse_retry_after("7") == 7
    assert parse_retry_after("2.5") == 2
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_settings_from_env_strips_trailing_slash():
    settings = Settings.from_env({"RAGSTACK_UI_BACKEND_URL": "http://api:8000/"})
    assert settings.backend_url == "http://api:8000"
    assert settings.cookie_secure is True
    assert settings.backend_ca_file == ""
    assert Settings.from_env({"RAGSTACK_UI_COOKIE_SECURE": "false"}).cookie_secure is False
    ca = Settings.from_env({"RAGSTACK_UI_BACKEND_CA_FILE": "/etc/ragstack/tls/ca.pem"})
    assert ca.backend_ca_file == "/etc/ragstack/tls/ca.pem"


# --- over TLS, as on a host (the backend's API port speaks only TLS) ----------------------------


@pytest.fixture(scope="module")
def https_backend(tmp_path_factory):
    """The fake backend served by uvicorn over TLS with a certificate of a throw-away CA; yields
    (url, that CA's file, another CA's file)."""
    work = tmp_path_factory.mktemp("ui-tls")
    pki = write_pki(work / "pki", "test internal CA")
    other_ca = write_pki(work / "other", "some other CA")["ca"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(pki["cert"]),
        ssl_keyfile=str(pki["key"]),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"https://127.0.0.1:{port}", str(pki["ca"]), str(other_ca)
    server.should_exit = True
    thread.join(timeout=10)


def test_https_backend_is_verified_against_the_configured_ca(https_backend):
    url, ca, other_ca = https_backend

    async def call(ca_file: str):
        settings = Settings(backend_url=url, backend_ca_file=ca_file)
        return await BackendClient(settings, token="test-key").list_collections()

    assert run(call(ca)) == []
    # Signed by another CA, or checked against the system's CAs only: no request is sent.
    for refused in (other_ca, ""):
        with pytest.raises(BackendError) as caught:
            run(call(refused))
        assert caught.value.message == UNREACHABLE


# --- against the fake backend ------------------------------------------------------------------


def client(api_key="test-key", app=None):
    """A client with a session token (the fake backend's token is its API key)."""
    transport = httpx.ASGITransport(app=app or create_app())
    return BackendClient(Settings(backend_url="http://backend"), transport, token=api_key)


def run(coro):
    return asyncio.run(coro)


def test_collections_documents_and_jobs_round_trip():
    async def scenario():
        backend = client()
        await backend.create_collection("handbook", "Employee handbook")
        names = [c["name"] for c in await backend.list_collections()]
        small = await backend.upload_document("handbook", "a.txt", b"short text", "text/plain")
        again = await backend.upload_document("handbook", "a2.txt", b"short text", "text/plain")
        large = await backend.upload_document("handbook", "b.txt", b"x" * 5000, "text/plain")
        page = await backend.list_documents("handbook")
        job = await backend.get_job(large["job_id"])
        await backend.delete_document("handbook", small["document"]["id"])
        after = await backend.list_documents("handbook")
        return names, small, again, large, page, job, after

    names, small, again, large, page, job, after = run(scenario())
    assert again["duplicate"] is True and again["document"]["id"] == small["document"]["id"]
    assert names == ["handbook"]
    assert small["job_id"] is None and small["document"]["status"] == "ready"
    assert small["duplicate"] is False
    assert large["job_id"] and large["document"]["status"] == "queued"
    assert page["total"] == 2
    assert job["status"] == "running"
    assert after["total"] == 1


def test_chat_stream_yields_citations_tokens_done():
    async def scenario():
        backend = client()
        await backend.create_collection("handbook")
        await backend.upload_document("handbook", "vacation.txt", b"30 days of vacation.")
        return [e async for e in backend.chat_stream("handbook", "How many days?")]

    events = run(scenario())
    assert events[0].event == "citations"
    assert events[0].data["citations"][0]["filename"] == "vacation.txt"
    assert events[-1].event == "done"
    assert "30 days" in "".join(e.data["text"] for e in events if e.event == "token")


def test_error_status_becomes_backend_error_with_words():
    async def scenario():
        backend = client()
        with pytest.raises(BackendError) as not_found:
            await backend.list_documents("missing")
        with pytest.raises(BackendError) as conflict:
            await backend.create_collection("abc")
            await backend.create_collection("abc")
        with pytest.raises(BackendError) as unsupported:
            await backend.upload_document("abc", "tool.exe", b"MZ")
        return not_found.value, conflict.value, unsupported.value

    not_found, conflict, unsupported = run(scenario())
    assert not_found.status == 404 and "collection 'missing' not found" in not_found.message
    assert conflict.status == 409 and "already exists" in conflict.message
    assert unsupported.status == 415 and "not supported" in unsupported.message


def test_wrong_key_and_rate_limit():
    app = create_app()

    async def scenario():
        with pytest.raises(BackendError) as refused:
            await client(api_key="wrong", app=app).list_collections()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b"
        ) as raw:
            await raw.post("/_fake/mode", json={"rate_limit": True})
        with pytest.raises(BackendError) as limited:
            async for _ in client(app=app).chat_stream("handbook", "hi"):
                pass
        return refused.value, limited.value

    refused, limited = run(scenario())
    assert refused.status == 401 and "sign in again" in refused.message
    assert limited.status == 429 and limited.retry_after == 7
    assert "Try again in 7 s." in limited.message


class Unreachable(httpx.AsyncBaseTransport):
    def __init__(self, exc):
        self.exc = exc

    async def handle_async_request(self, request):
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "message"),
    [(httpx.ConnectError("refused"), UNREACHABLE), (httpx.ReadTimeout("slow"), TIMED_OUT)],
)
def test_backend_down_is_explained(exc, message):
    backend = BackendClient(Settings(backend_url="http://backend"), Unreachable(exc))

    async def scenario():
        errors = []
        for call in (backend.ready(), backend.list_collections()):
            with pytest.raises(BackendError) as caught:
                await call
            errors.append(caught.value)
        with pytest.raises(BackendError) as streamed:
            async for _ in backend.chat_stream("c", "q"):
                pass
        return [*errors, streamed.value]

    for error in run(scenario()):
        assert error.message == message
        assert error.status is None


def test_ready_returns_body_even_when_unready():
    app = create_app()

    async def scenario():
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b"
        ) as raw:
            await raw.post("/_fake/mode", json={"ready": "unready"})
        return await client(app=app).ready()

    body = run(scenario())
    assert body["status"] == "unready"
    assert body["checks"]["chromadb"]["ok"] is False


def test_path_segments_are_escaped():
    seen = []

    def handler(request):
        seen.append(request.url.raw_path)
        return httpx.Response(200, json={"id": "x", "status": "queued"})

    backend = BackendClient(Settings(backend_url="http://b"), httpx.MockTransport(handler))
    run(backend.get_job("../v1/collections"))
    assert seen == [b"/v1/jobs/..%2Fv1%2Fcollections"]


def test_sign_in_and_refresh():
    app = create_app()

    async def scenario():
        anonymous = client(api_key="", app=app)
        with pytest.raises(BackendError) as wrong:
            await anonymous.sign_in("alice", "guess")
        answer = await anonymous.sign_in("alice", "wonderland-password")
        signed_in = client(api_key=answer["access_token"], app=app)
        return wrong.value, answer, await signed_in.refresh(), await signed_in.list_collections()

    wrong, answer, refreshed, collections = run(scenario())
    assert wrong.status == 401
    assert answer["user"]["name"] == "alice" and answer["expires_in"] > 0
    assert refreshed["access_token"] == answer["access_token"]
    assert collections == []
