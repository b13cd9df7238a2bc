"""Fixtures of the UI tests: the built artifact installed like on a host, servers, chromium.

The end-to-end tests build the release artifact once per session (scripts/build-frontend),
install it into a fresh venv from its wheelhouse only, and drive it with Debian's chromium.
"""

import json
import os
import secrets
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from e2e import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    FAKE_PASSWORD,
    FAKE_USER,
    OUTPUT,
    build_artifact,
    free_port,
    granian_cmd,
    install_artifact,
    nginx_headers,
    running,
)

HERE = Path(__file__).resolve().parent
# The UI's own modules (ragstack_ui) are imported by the unit tests straight from the source.
sys.path.insert(0, str(HERE.parents[1] / "frontend"))


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the built UI in headless chromium")


@dataclass
class Server:
    url: str
    api_key: str = ""

    def post(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": self.api_key},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")


@pytest.fixture(scope="session")
def ui_install(tmp_path_factory):
    """The UI artifact, built once per session and installed like on a host (no node)."""
    artifact = build_artifact()
    return install_artifact(artifact, tmp_path_factory.mktemp("ui-host"))


@pytest.fixture
def fake_backend(ui_install):
    """tests/frontend/fake_backend.py, served by the UI's own venv (it has granian, starlette)."""
    python, _ = ui_install
    port = free_port()
    api_key = f"rsk_fake_{secrets.token_hex(12)}"
    cmd = granian_cmd(python, port, "fake_backend:app")
    url = f"http://127.0.0.1:{port}"
    with running(
        cmd,
        cwd=HERE,
        env={
            "FAKE_BACKEND_API_KEY": api_key,
            "FAKE_BACKEND_USER": FAKE_USER,
            "FAKE_BACKEND_PASSWORD": FAKE_PASSWORD,
        },
        health=url + "/health",
        log=OUTPUT / "fake-backend.log",
    ):
        yield Server(url, api_key)


@pytest.fixture
def pacing_proxy(ui_install):
    """Starts tests/frontend/pacing_proxy.py in front of a backend: `pacing_proxy(url) -> url`."""
    python, _ = ui_install
    contexts = []

    def start(upstream: str) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        context = running(
            granian_cmd(python, port, "pacing_proxy:app"),
            cwd=HERE,
            env={"PACING_UPSTREAM": upstream},
            health=url + "/_pacing/health",
            log=OUTPUT / f"pacing-proxy-{port}.log",
        )
        context.__enter__()
        contexts.append(context)
        return url

    yield start
    for context in reversed(contexts):
        context.__exit__(None, None, None)


@pytest.fixture
def start_ui(ui_install, tmp_path):
    """Starts the installed UI against a backend: `start_ui(backend_url) -> base URL`."""
    python, app_dir = ui_install
    started = []

    def start(backend_url: str) -> str:
        port = free_port()
        context = running(
            [str(python), "-m", "ragstack_ui.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=app_dir,
            env={
                "RAGSTACK_UI_BACKEND_URL": backend_url,
                "RAGSTACK_UI_STATE_DIR": str(tmp_path / f"ui-state-{port}"),
                "RAGSTACK_UI_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
            },
            health=f"http://127.0.0.1:{port}/_health",
            log=OUTPUT / f"ui-{port}.log",
        )
        context.__enter__()
        started.append(context)
        return f"http://127.0.0.1:{port}"

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's sync API keeps an event loop running in this
    thread while it is open, and asyncio.run() in a later test of the same process would fail."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/bootstrap 40-frontend)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def add_nginx_headers(context) -> None:
    """Every page arrives with nginx's headers (its CSP above all), as behind nginx."""
    headers = nginx_headers()

    def handle(route):
        request = route.request
        if urlsplit(request.url).hostname not in ("127.0.0.1", "localhost"):
            # Tests send no traffic elsewhere: a web link a test clicks (an answer may quote
            # one from a document; the UI opens it in a new tab) ends here.
            route.abort("blockedbyclient")
            return
        if request.resource_type != "document" or request.method != "GET":
            route.continue_()
            return
        # Redirects (e.g. /sign-in -> /sign-in/) are followed here: a redirect answered through
        # the route would be followed by chromium itself, and the page it lands on would not
        # come through this route, so it would lack the headers.
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, **headers})

    context.route("**/*", handle)


@pytest.fixture
def page(browser):
    """A page behind nginx's headers; a CSP violation or script error fails the test."""
    from playwright.sync_api import expect

    # Generous: the CI machine has 2 cores and other suites may run beside this one.
    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    add_nginx_headers(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []

    def refused(text: str) -> None:
        if "Content Security Policy" in text or "EvalError" in text or "unsafe-eval" in text:
            problems.append(text)

    page.on("console", lambda message: refused(message.text))
    page.on("pageerror", lambda error: refused(str(error)))
    yield page
    context.close()
    assert not problems, problems
