"""The built UI in headless chromium against the fake backend: flows and error handling.

The same flows against the real backend are in test_ui_e2e.py.
"""

import re
import socket
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright", reason="Playwright is not installed in this venv")

from e2e import FAKE_PASSWORD, FAKE_USER, nginx_headers
from playwright.sync_api import expect
from ui_flows import (
    answer_lengths,
    ask,
    choose_collection,
    expect_collection,
    screenshot,
    sign_in,
    upload,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def ui(fake_backend, start_ui, page):
    """The UI, and the page signed in as the fake backend's user."""
    fake_backend.post("/v1/collections", {"name": "handbook", "description": "HR handbook"})
    url = start_ui(fake_backend.url)
    sign_in(page, url, FAKE_USER, FAKE_PASSWORD)
    return url


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

    ui = start_ui(f"http://127.0.0.1:{free_port()}")
    page.goto(ui + "/status")
    expect(page).to_have_url(ui + "/sign-in")
    page.get_by_label("User name").fill(FAKE_USER)
    page.get_by_label("Password").fill(FAKE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("the backend is unavailable")


def test_anonymous_visitors_can_only_sign_in(browser, fake_backend, start_ui):
    ui = start_ui(fake_backend.url)
    context = browser.new_context()
    page = context.new_page()
    try:
        for path in ("/", "/documents", "/collections", "/status"):
            page.goto(ui + path)
            expect(page).to_have_url(ui + "/sign-in")
        expect(page.get_by_role("combobox", name="Collection")).to_have_count(0)
        page.get_by_label("User name").fill(FAKE_USER)
        page.get_by_label("Password").fill("not the password")
        with page.expect_response(ui + "/auth/sign-in") as answer:
            page.get_by_role("button", name="Sign in").click()
        assert answer.value.status == 401  # what nginx logs for fail2ban
        expect(page).to_have_url(re.compile(r"/sign-in/?\?error=invalid$"))
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
        assert not [c for c in context.cookies() if c["name"] == "ragstack_session"]
    finally:
        context.close()
    # Another site's page cannot post the form (login CSRF), even with the right password.
    form = {"username": FAKE_USER, "password": FAKE_PASSWORD}
    for origin, status in ((fake_backend.url, 403), (None, 403), (ui, 303)):
        headers = {"Origin": origin} if origin else {}
        answer = httpx.post(ui + "/auth/sign-in", data=form, headers=headers)
        assert answer.status_code == status, (origin, answer.text)
        assert ("ragstack_session" in answer.headers.get("set-cookie", "")) == (status == 303)


def test_session_cookie_is_httponly_and_sign_out_ends_it(page, ui):
    cookies = [c for c in page.context.cookies() if c["name"] == "ragstack_session"]
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie").find("ragstack_session") == -1
    page.locator("#sign-out").filter(visible=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in/?\?signed_out=1$"))
    expect(page.get_by_role("alert")).to_contain_text("You are signed out")
    # The old cookie value is useless now, even if it had been copied.
    context = page.context
    context.add_cookies([{**cookie, "expires": -1}])
    page.goto(ui + "/documents")
    expect(page).to_have_url(ui + "/sign-in")


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


def test_phone_width_is_usable(browser, ui, page):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        storage_state=page.context.storage_state(),
    )
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


def websocket_handshake(ui: str, origin: str) -> int:
    """The status the UI answers a websocket upgrade of /_event from a page of `origin`."""
    host, port = ui.removeprefix("http://").split(":")
    request = (
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request.encode())
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_only_the_ui_origin_may_open_its_websocket(page, ui, fake_backend):
    """Another site's page cannot drive the UI in a visitor's browser (cross-site websocket);
    checked at the server, below the CSP (which would stop the other site's own page only if
    that site sent one)."""
    assert websocket_handshake(ui, ui) == 101
    for other in (fake_backend.url, "https://attacker.example", "null"):
        assert websocket_handshake(ui, other) in (400, 403), other
    # The page of the UI's own origin is connected (it shows the signed-in user's collections).
    page.goto(ui + "/status")
    expect_collection(page, "handbook")


def test_pages_carry_no_inline_script_but_the_allowed_ones(ui_install):
    """What the CSP allows (roles/nginx/defaults/main.yml) fits the built pages."""
    from ragstack_ui.csp import script_hashes

    _, app_dir = ui_install
    policy = nginx_headers()["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    hashes = script_hashes(app_dir / ".web" / "build" / "client")
    assert hashes, "the color-mode script should be the one left inline"
    for digest in hashes:
        assert digest in script_src, f"{digest} runs in the pages but the CSP does not allow it"
