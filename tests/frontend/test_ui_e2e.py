"""End to end: the built UI in headless chromium against the real backend (tests/conftest.py).

Upload a document, ask about it, watch the answer arrive over the backend's SSE stream, open
its citation. Needs the backend's venv (`.venv`, which runs uvicorn + ragstack) with Playwright:
`.venv/bin/pytest tests/frontend`. Under `.venv-frontend` it is skipped with the reason.
"""

import importlib.util
import shutil
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright is not installed in this venv")

from playwright.sync_api import expect
from ui_flows import answer_lengths, ask, choose_collection, screenshot, upload

pytestmark = pytest.mark.e2e

FACT = (
    "The Aurora observatory keeps exactly 42 solar drones in its fleet. "
    "Each drone is inspected every Tuesday by the night crew."
)


def backend_runnable() -> str:
    """Why the backend_server fixture cannot run in this interpreter, or ''."""
    if importlib.util.find_spec("ragstack") is None:
        return "the ragstack backend is not installed in this venv (use .venv/bin/pytest)"
    if not (Path(sys.executable).parent / "uvicorn").exists() and not shutil.which("uvicorn"):
        return "uvicorn is not installed in this venv (use .venv/bin/pytest)"
    return ""


@pytest.fixture
def real_backend(request):
    if reason := backend_runnable():
        pytest.skip(reason)
    return request.getfixturevalue("backend_server")


def test_upload_ask_streamed_cited_answer(page, real_backend, pacing_proxy, start_ui, tmp_path):
    # Requests pass unchanged; SSE events are only spaced out so the browser can show each one.
    ui = start_ui(pacing_proxy(real_backend.url), real_backend.admin_key)
    collection = f"e2e-{uuid.uuid4().hex[:8]}"

    page.goto(ui + "/collections")
    page.get_by_label("Collection name").fill(collection)
    page.get_by_label("Description").fill("Created by the UI's end-to-end test")
    page.get_by_role("button", name="Create").click()
    choose_collection(page, ui, collection)

    document = tmp_path / "aurora_fleet.md"
    document.write_text(f"# Aurora fleet\n\n{FACT}\n")
    upload(page, ui, [document])

    ask(page, ui, "How many solar drones does the Aurora observatory keep?")
    answer = page.locator(".message.assistant").last
    expect(answer.locator(".answer")).to_contain_text("42 solar drones")
    lengths = answer_lengths(page)
    assert len(lengths) >= 3, f"the answer was not rendered token by token: {lengths}"
    expect(answer.get_by_role("alert")).to_have_count(0)
    citation = answer.locator(".citation").first
    expect(citation).to_be_visible()
    expect(citation).to_have_attribute("title", "aurora_fleet.md")
    screenshot(page, "e2e-chat-answer")

    citation.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("aurora_fleet.md")
    expect(page.locator(".cited-passage")).to_contain_text("42 solar drones")
    screenshot(page, "e2e-cited-passage")
    page.keyboard.press("Escape")
    expect(page.locator(".cited-passage")).to_be_hidden()
    answer.locator(".answer a", has_text="[1]").click()
    expect(page.locator(".cited-passage")).to_contain_text("42 solar drones")
    page.keyboard.press("Escape")

    # The conversation comes back from GET /v1/conversations/{id} after a reload.
    page.reload()
    expect(page.locator(".message.user")).to_have_text(
        ["How many solar drones does the Aurora observatory keep?"]
    )
    expect(page.locator(".message.assistant .answer")).to_contain_text("42 solar drones")

    page.goto(ui + "/status")
    expect(page.locator("#ready-summary")).to_contain_text("ready")
    screenshot(page, "e2e-status")


def test_real_refusals_are_explained(page, real_backend, start_ui, tmp_path):
    """The backend's own 403 and 429 answers reach the person as sentences."""
    collection = f"e2e-{uuid.uuid4().hex[:8]}"
    with real_backend.client() as admin:
        admin.post("/v1/collections", json={"name": collection}).raise_for_status()

    read_only = start_ui(real_backend.url, real_backend.keys["read"])
    choose_collection(page, read_only, collection)
    document = tmp_path / "notes.txt"
    document.write_text("Read-only keys cannot add documents.\n")
    page.goto(read_only + "/documents")
    page.locator("#documents-upload input[type=file]").set_input_files(str(document))
    page.locator("#upload-button").click()
    row = page.locator("#upload-list .upload-row").filter(has_text="notes.txt")
    expect(row.get_by_text("failed", exact=True)).to_be_visible()
    expect(row).to_contain_text("not allowed to do this (403)")

    # The "limited" key allows a burst of 3 requests; page loads spend some of them.
    limited = start_ui(real_backend.url, real_backend.keys["limited"])
    page.goto(limited + "/")
    for attempt in range(6):
        ask(page, limited, f"Question {attempt}?")
        if "Too many requests" in page.locator(".message.assistant").last.inner_text():
            break
    expect(page.locator(".message.assistant").last).to_contain_text(
        "Too many requests: the backend is rate limiting. Try again in"
    )
    screenshot(page, "e2e-rate-limited")
