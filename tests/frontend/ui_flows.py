"""What a person does in the UI, as Playwright steps shared by the fake- and real-backend tests."""

from __future__ import annotations

import contextlib
from pathlib import Path

from e2e import OUTPUT
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# Records every distinct length of the newest answer's text, to prove it arrived in pieces.
WATCH_ANSWER = """
() => {
  window.__answerLengths = [];
  const log = document.querySelector('#chat-log');
  new MutationObserver(() => {
    const answers = log.querySelectorAll('.message.assistant .answer');
    const last = answers[answers.length - 1];
    const n = last ? last.textContent.length : 0;
    const seen = window.__answerLengths;
    if (n && seen[seen.length - 1] !== n) seen.push(n);
  }).observe(log, {subtree: true, childList: true, characterData: true});
}
"""


def screenshot(page: Page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let dialogs finish their fade-in
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def wait_hydrated(page: Page) -> None:
    """The page is live (event handlers attached, state loaded): the collection picker shows."""
    picker = page.get_by_role("combobox", name="Collection").filter(visible=True)
    expect(picker).to_be_visible()


def sign_in(page: Page, base: str, user: str, password: str) -> None:
    """Through the sign-in form, as a person would; lands on the chat page."""
    page.goto(base + "/")
    expect(page).to_have_url(base + "/sign-in")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/")
    expect(page.locator("#signed-in-user").filter(visible=True)).to_have_text(user)


def expect_collection(page: Page, name: str) -> None:
    """The visible collection picker (sidebar or phone top bar) shows `name`."""
    picker = page.get_by_role("combobox", name="Collection").filter(visible=True)
    expect(picker).to_have_text(name)


def choose_collection(page: Page, base: str, name: str) -> None:
    page.goto(base + "/collections")
    wait_hydrated(page)
    card = page.locator(".rt-Card", has_text=name).last
    use = card.get_by_role("button", name=f"Use collection {name}")
    expect(use).to_be_visible()
    if use.is_enabled():
        # The page's state may arrive meanwhile and make it the collection in use: the button then
        # turns disabled and the click times out (the outcome is checked below either way).
        with contextlib.suppress(PlaywrightTimeoutError):
            use.click(timeout=5000)
    expect(card.get_by_text("In use")).to_be_visible()


def upload(page: Page, base: str, files: list[Path], keyboard: bool = False) -> None:
    """Choose files and upload them; with `keyboard`, the buttons are reached with Tab/Enter."""
    page.goto(base + "/documents")
    wait_hydrated(page)
    if keyboard:
        page.get_by_role("button", name="Refresh").focus()
        page.keyboard.press("Tab")  # the next tab stop is the drop zone's "Choose files"
        expect(page.locator("#choose-files")).to_be_focused()
    # Headless chromium does not reliably report a file dialog opened by a key press to
    # Playwright (the page does open it), so the files are handed to the input directly.
    page.locator("#documents-upload input[type=file]").set_input_files([str(f) for f in files])
    for f in files:
        expect(page.get_by_text(f.name).first).to_be_visible()
    if keyboard:
        page.keyboard.press("Tab")  # on to the Upload button
        expect(page.locator("#upload-button")).to_be_focused()
        page.keyboard.press("Enter")
    else:
        page.locator("#upload-button").click()
    rows = page.locator("#upload-list .upload-row")
    expect(rows).to_have_count(len(files))
    # The choice is cleared once sent: nothing is left to upload twice.
    expect(page.locator("#upload-button")).to_be_disabled()
    for f in files:
        row = rows.filter(has_text=f.name)
        expect(row.get_by_text("ready", exact=True)).to_be_visible(timeout=120_000)
    table = page.locator("#documents-table")
    for f in files:
        expect(table.get_by_text(f.name).first).to_be_visible()


def ask(page: Page, base: str, question: str, *, timeout: float = 120_000) -> None:
    """Asks on the chat page and waits until the answer has settled (Send is enabled again)."""
    if not page.url.rstrip("/").endswith(base.rstrip("/")):
        page.goto(base + "/")
    box = page.get_by_label("Your question")
    expect(box).to_be_enabled()
    page.evaluate(WATCH_ANSWER)
    box.fill(question)
    box.press("Enter")
    expect(page.locator(".message.user").last).to_have_text(question)
    expect(page.get_by_role("button", name="Send")).to_be_enabled(timeout=timeout)


def answer_lengths(page: Page) -> list[int]:
    return page.evaluate("() => window.__answerLengths")
