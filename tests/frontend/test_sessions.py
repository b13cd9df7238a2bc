"""The UI's session store and its sign-in routes (no browser): cookies, refresh, origins."""

import asyncio
import time

import httpx
import pytest
from fake_backend import create_app
from ragstack_ui import csp, sessions
from ragstack_ui.backend import Settings

SETTINGS = Settings(backend_url="http://backend")


def sign_in_answer(token="test-key", expires_in=900):
    return {"access_token": token, "expires_in": expires_in, "user": {"name": "alice"}}


def test_cookie_names_the_session():
    store = sessions.SessionStore()
    session = store.create(sign_in_answer())
    header = f"theme=dark; {sessions.COOKIE}={session.id}; other=1"
    assert store.get(header) is session
    assert store.get(f"{sessions.COOKIE}=forged") is None
    assert store.get("") is None and store.get("garbage;;==") is None
    store.drop(header)
    assert store.get(header) is None


def test_no_session_means_not_signed_in():
    store = sessions.SessionStore()
    with pytest.raises(sessions.NotSignedIn) as raised:
        asyncio.run(store.client_for("", SETTINGS))
    assert raised.value.status == 401


def test_token_near_expiry_is_refreshed_and_a_refused_one_ends_the_session():
    store = sessions.SessionStore(httpx.ASGITransport(app=create_app()))
    session = store.create(sign_in_answer(expires_in=30))  # inside the refresh margin
    header = f"{sessions.COOKIE}={session.id}"
    asyncio.run(store.client_for(header, SETTINGS))
    assert store.get(header).expires_at > time.time() + 800

    stale = store.create(sign_in_answer(token="revoked", expires_in=30))
    stale_header = f"{sessions.COOKIE}={stale.id}"
    with pytest.raises(sessions.NotSignedIn):
        asyncio.run(store.client_for(stale_header, SETTINGS))
    assert store.get(stale_header) is None


def test_expired_sessions_are_forgotten():
    store = sessions.SessionStore()
    old = store.create(sign_in_answer(expires_in=-1))
    store.create(sign_in_answer())
    assert store.get(f"{sessions.COOKIE}={old.id}") is None
    assert old.id not in store._sessions


def test_inline_scripts_move_to_files(tmp_path):
    (tmp_path / "assets").mkdir()
    theme = 'const t = localStorage.getItem("theme");'
    page = (
        f"<html><head><script>{theme}</script><script>window.a = 1;</script>"
        '<script type="module" async="">import "/assets/x.js";</script>'
        '<script src="/assets/y.js"></script>'
        '<script type="application/json">{"data": 1}</script></head></html>'
    )
    (tmp_path / "index.html").write_text(page)
    assert csp.externalize_site(tmp_path) == 2
    result = (tmp_path / "index.html").read_text()
    # Only the script React renders itself stays, allowed by its hash.
    assert csp.remaining_inline_scripts(result) == [theme]
    assert csp.script_hashes(tmp_path) == {csp.script_hash(theme)}
    # The module is deferred (runs after parsing), no longer async.
    assert '<script type="module" src="/assets/inline-' in result and "async" not in result
    assert '{"data": 1}' in result
    moved = sorted((tmp_path / "assets").glob("inline-*.js"))
    assert {m.read_text() for m in moved} == {"window.a = 1;", 'import "/assets/x.js";'}
