"""The Reflex states' event handlers, run in-process against the fake backend.

The handlers are called on real state instances (as Reflex would, minus the websocket); the
background ones (`send`, `poll_ingestion`) through a stand-in for Reflex's state lock.
"""

import asyncio
import io
from pathlib import Path

import httpx
import pytest

pytest.importorskip("reflex", reason="Reflex is not installed in this venv (.venv-frontend)")

import reflex as rx
from fake_backend import create_app
from ragstack_ui import models, state
from ragstack_ui.backend import BackendClient, Settings


class Locked:
    """What `async with self` gives a background handler: the state, here without a lock."""

    def __init__(self, target):
        object.__setattr__(self, "_target", target)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def __getattr__(self, name):
        return getattr(self._target, name)

    def __setattr__(self, name, value):
        setattr(self._target, name, value)


@pytest.fixture
def fake(monkeypatch):
    """Every handler's backend() is a client of one in-process fake backend."""
    app = create_app()
    client = BackendClient(
        Settings(backend_url="http://backend"), httpx.ASGITransport(app=app), token="test-key"
    )

    async def signed_in(cookie_header):
        return client

    monkeypatch.setattr(state, "backend_for", signed_in)
    monkeypatch.setattr(state, "JOB_POLL_SECONDS", 0.01)
    return client


def states():
    root = rx.State(_reflex_internal_init=True)
    app_state = root.substates[state.AppState.get_name()]
    subs = app_state.substates
    return (
        app_state,
        subs[state.ChatState.get_name()],
        subs[state.DocumentsState.get_name()],
        subs[state.CollectionsState.get_name()],
        subs[state.StatusState.get_name()],
    )


def run(coro):
    return asyncio.run(coro)


async def drain(handler):
    """Run an event handler that may be an async generator; return what it yielded."""
    result = handler
    if hasattr(result, "__anext__"):
        return [item async for item in result]
    return await result


def test_collections_load_select_and_create(fake):
    app_state, chat, _, collections, _ = states()

    async def scenario():
        await app_state.load_collections()
        empty = (list(app_state.collection_names), app_state.collection)
        collections.set_new_name("Bad Name")
        await drain(collections.create())
        bad = collections.form_error
        collections.set_new_name("handbook")
        await drain(collections.create())
        await fake.create_collection("archive")
        chat.messages = [models.ChatMessage(id="x", content="old")]
        chat.conversation_id = "c-old"
        await app_state.load_collections()
        await app_state.select_collection("archive")
        return empty, bad

    empty, bad = run(scenario())
    assert empty == ([], "")
    assert "lowercase" in bad
    assert app_state.collection_names == ["archive", "handbook"]
    assert app_state.collection == "archive"
    assert app_state.backend_status == "ok"
    # Another collection means another conversation.
    assert chat.messages == [] and chat.conversation_id == ""


def test_send_streams_answer_and_keeps_conversation(fake):
    app_state, chat, *_ = states()

    async def scenario():
        await fake.create_collection("handbook")
        await fake.upload_document("handbook", "leave.txt", b"Thirty days of paid leave.")
        await app_state.load_collections()
        await state.ChatState.send.fn(Locked(chat), {"message": "  How much leave?  "})
        first = chat.conversation_id
        await state.ChatState.send.fn(Locked(chat), {"message": "And in the first year?"})
        return first

    first = run(scenario())
    chat.open_citation_link(f"#cite-{chat.messages[1].id}-1")
    assert chat.citation_open and chat.open_citation.filename == "leave.txt"
    assert [m.role for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert chat.messages[0].content == "How much leave?"
    answer = chat.messages[1]
    assert answer.status == "done" and "Thirty days" in answer.content
    assert answer.citations[0].filename == "leave.txt"
    assert first and chat.conversation_id == first
    assert chat.busy is False


def test_answer_of_a_left_conversation_does_not_come_back(fake):
    app_state, chat, *_ = states()

    async def scenario():
        await fake.create_collection("handbook")
        await fake.create_collection("archive")
        await app_state.load_collections()
        sending = asyncio.create_task(
            state.ChatState.send.fn(Locked(chat), {"message": "Slow question?"})
        )
        while not chat.messages:
            await asyncio.sleep(0.001)
        await app_state.select_collection("handbook")
        await sending

    run(scenario())
    assert app_state.collection == "handbook"
    assert chat.messages == [] and chat.conversation_id == ""
    assert chat.busy is False


def test_send_refuses_without_collection_or_text(fake):
    _, chat, *_ = states()
    run(state.ChatState.send.fn(Locked(chat), {"message": "hello"}))
    assert "Choose or create a collection" in chat.chat_error
    run(state.ChatState.send.fn(Locked(chat), {"message": "   "}))
    assert chat.messages == []


def test_send_when_backend_fails_settles_the_answer(fake, monkeypatch):
    app_state, chat, *_ = states()
    app_state.collection = "missing"
    run(state.ChatState.send.fn(Locked(chat), {"message": "Anyone?"}))
    answer = chat.messages[-1]
    assert answer.status == "error"
    assert "collection 'missing' not found" in answer.error
    assert chat.busy is False


def test_history_after_reload_and_after_expiry(fake):
    app_state, chat, *_ = states()

    async def scenario():
        await fake.create_collection("handbook")
        app_state.collection = "handbook"
        await state.ChatState.send.fn(Locked(chat), {"message": "Hi"})
        conversation_id = chat.conversation_id
        # A reload: a fresh state whose browser still has the conversation id.
        _, reloaded, *_ = states()
        reloaded.conversation_id = conversation_id
        await reloaded.load_history()
        # A conversation the backend forgot: start afresh, no error shown.
        _, expired, *_ = states()
        expired.conversation_id = "gone"
        await expired.load_history()
        return reloaded, expired

    reloaded, expired = run(scenario())
    assert [m.role for m in reloaded.messages] == ["user", "assistant"]
    assert reloaded.messages[0].content == "Hi"
    assert expired.conversation_id == "" and expired.chat_error == ""


def upload_file(name: str, content: bytes) -> rx.UploadFile:
    return rx.UploadFile(file=io.BytesIO(content), path=Path(name), size=len(content))


def test_upload_follows_background_ingestion_and_delete(fake):
    app_state, _, documents, *_ = states()

    async def scenario():
        await fake.create_collection("handbook")
        app_state.collection = "handbook"
        files = [
            upload_file("small.txt", b"A short note."),
            upload_file("big.md", b"# Big\n" + b"words " * 1000),
            upload_file("tool.exe", b"MZ"),
        ]
        yielded = await drain(documents.handle_upload(files))
        after_upload = [(u.filename, u.status) for u in documents.uploads]
        await state.DocumentsState.poll_ingestion.fn(Locked(documents))
        big = next(d for d in documents.documents if d.filename == "big.md")
        documents.ask_delete(big.id, big.filename)
        await documents.confirm_delete()
        return yielded, after_upload

    yielded, after_upload = run(scenario())
    assert after_upload == [("small.txt", "ready"), ("big.md", "queued"), ("tool.exe", "failed")]
    assert state.DocumentsState.poll_ingestion in yielded
    assert [u.status for u in documents.uploads] == ["ready", "ready", "failed"]
    assert "not supported" in documents.uploads[2].message
    assert documents.notice == "Deleted big.md."
    assert [d.filename for d in documents.documents] == ["small.txt"]
    assert documents.total == 1 and documents.polling is False


def test_status_ready_and_unreachable(fake, monkeypatch):
    *_, status = states()
    run(status.check())
    assert status.overall == "ready" and status.overall_tone == "green"
    assert [c.name for c in status.checks] == ["chromadb", "llm", "redis"]

    down = BackendClient(
        Settings(backend_url="http://127.0.0.1:9"),
        httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused"))),
    )

    async def unreachable(cookie_header):
        return down

    monkeypatch.setattr(state, "backend_for", unreachable)
    run(status.check())
    assert status.overall == "unreachable" and status.checks == []
    assert "cannot be reached" in status.status_error
    assert status.backend_status == "unreachable"
