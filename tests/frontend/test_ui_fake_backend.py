"""The built UI in headless chromium against the fake backend: flows and error handling.

The same flows against the real backend are in test_ui_e2e.py.
"""

from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright is not installed in this venv")

from playwright.sync_api import expect
from ui_flows import (
    answer_lengths,
    ask,
    choose_collection,
    expect_collection,
    screenshot,
    upload,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def ui(fake_backend, start_ui):
    fake_backend.post("/v1/collections", {"name": "handbook", "description": "HR handbook"})
    return start_ui(fake_backend.url, fake_backend.api_key)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_upload_ask_stream_cite_reload(page, ui, fake_backend, tmp_path):
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    vacation = write(
        tmp_path,
        "vacation_policy.txt",
        "Vacation policy. Employees get 30 days of paid vacation per year.\n",
    )
    # Larger than the fake's inline limit: ingested in the background, followed through /jobs.
    travel = write(tmp_path, "travel_rules.md", "# Travel\n" + "Book trains early. " * 200)
    upload(page, ui, [vacation, travel], keyboard=True)
    screenshot(page, "fake-documents")

    # The fake cites the newest document.
    ask(page, ui, "When should trains be booked?")
    answer = page.locator(".message.assistant").last
    expect(answer.locator(".answer")).to_contain_text("Book trains early")
    assert len(answer_lengths(page)) >= 3, "the answer did not stream in pieces"
    citation = answer.locator(".citation").first
    expect(citation).to_contain_text("Travel Rules")
    screenshot(page, "fake-chat-answer")

    citation.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".cited-passage")).to_contain_text("Book trains early.")
    expect(page.get_by_role("dialog")).to_contain_text("travel_rules.md")
    page.keyboard.press("Escape")
    expect(page.locator(".cited-passage")).to_be_hidden()
    # The [1] inside the answer's text opens the same passage.
    answer.locator(".answer a", has_text="[1]").click()
    expect(page.locator(".cited-passage")).to_contain_text("Book trains early.")
    page.keyboard.press("Escape")

    page.reload()
    expect(page.locator(".message.user")).to_have_text(["When should trains be booked?"])
    expect(page.locator(".message.assistant .citation")).to_have_count(1)

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".message")).to_have_count(0)

    # The API key stays on the server: not in the page, not in any state update sent to it.
    assert frames, "no websocket traffic was seen"
    assert fake_backend.api_key not in page.content()
    assert not [f for f in frames if fake_backend.api_key in str(f)]


def test_backend_problems_are_explained_and_the_ui_recovers(page, ui, fake_backend):
    page.goto(ui + "/")
    expect_collection(page, "handbook")
    fake_backend.post("/_fake/mode", {"rate_limit": True})
    ask(page, ui, "Anyone there?")
    expect(page.locator(".message.assistant").last).to_contain_text(
        "Too many requests: the backend is rate limiting. Try again in 7 s."
    )

    fake_backend.post("/_fake/mode", {"rate_limit": False, "llm_down": True})
    ask(page, ui, "And now?")
    expect(page.locator(".message.assistant").last).to_contain_text(
        "quotes the most relevant passages"
    )

    fake_backend.post("/_fake/mode", {"llm_down": False, "fail_stream": True})
    ask(page, ui, "Once more?")
    expect(page.locator(".message.assistant").last).to_contain_text(
        "the language model stopped responding"
    )

    fake_backend.post("/_fake/mode", {"fail_stream": False, "ready": "unready"})
    page.goto(ui + "/status")
    expect(page.locator("#ready-summary")).to_contain_text("unready")
    expect(page.locator("#ready-summary")).to_contain_text("cannot serve requests")
    screenshot(page, "fake-status-unready")


def test_backend_down(page, start_ui):
    from e2e import free_port

    ui = start_ui(f"http://127.0.0.1:{free_port()}", "any")
    page.goto(ui + "/status")
    expect(page.get_by_role("alert")).to_contain_text("cannot be reached")
    page.goto(ui + "/")
    expect(page.get_by_role("alert").first).to_contain_text("cannot be reached")
    box = page.get_by_label("Your question")
    box.fill("Hello?")
    box.press("Enter")
    # No collection could be listed, so the question is not sent, and the page says why.
    expect(page.get_by_role("alert").last).to_contain_text("Choose or create a collection")


def test_collections_and_delete_with_confirmation(page, ui, tmp_path):
    page.goto(ui + "/collections")
    page.get_by_label("Collection name").fill("Bad Name")
    page.get_by_label("Collection name").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("lowercase")
    page.get_by_label("Collection name").fill("contracts")
    page.get_by_label("Description").fill("Signed contracts")
    page.get_by_role("button", name="Create").click()
    choose_collection(page, ui, "contracts")

    upload(page, ui, [write(tmp_path, "nda.txt", "Mutual NDA, valid for two years.\n")])
    page.get_by_role("button", name="Delete nda.txt").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("nda.txt")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#documents-table")).to_contain_text("nda.txt")
    page.get_by_role("button", name="Delete nda.txt").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted nda.txt.")).to_be_visible()
    expect(page.get_by_text("No documents yet.")).to_be_visible()


def test_phone_width_is_usable(browser, ui):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(ui + "/documents")
        expect(page.get_by_role("link", name="Chat")).to_be_visible()
        expect(page.get_by_text("Drop files here, or click to choose")).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width}px wide on a 390px screen"
        screenshot(page, "fake-phone-documents")
    finally:
        context.close()


OPEN_EVENT_SOCKET = """(url) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onmessage = () => { resolve("open"); ws.close(); };
  ws.onerror = () => resolve("refused");
  ws.onclose = () => resolve("refused");
  setTimeout(() => resolve("no answer"), 8000);
})"""


def test_only_the_ui_origin_may_open_its_websocket(page, ui, fake_backend):
    socket = ui.replace("http://", "ws://") + "/_event/?EIO=4&transport=websocket"
    page.goto(ui + "/status")
    assert page.evaluate(OPEN_EVENT_SOCKET, socket) == "open"
    page.goto(fake_backend.url + "/health")  # any other site
    assert page.evaluate(OPEN_EVENT_SOCKET, socket) == "refused"
