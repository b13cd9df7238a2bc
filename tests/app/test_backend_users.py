"""Users, sign-in, session tokens, roles, per-collection access, conversation ownership, /ready."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from backend_helpers import upload
from servers import SCOPED_KEY_ONLY

PASSWORD = "correct horse battery staple"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(backend_server) -> httpx.Client:
    """A client signed in as the bootstrap admin (a user, not an API key)."""
    with httpx.Client(
        base_url=backend_server.url, headers=backend_server.sign_in(), timeout=60
    ) as client:
        yield client


@pytest.fixture
def make_user(admin):
    made: list[str] = []

    def make(role: str, collections: list[str] | None = None) -> str:
        name = _name(role)
        body = {"name": name, "password": PASSWORD, "role": role, "collections": collections}
        response = admin.post("/v1/users", json=body)
        assert response.status_code == 201, response.text
        assert "password" not in response.text and "hash" not in response.text
        made.append(name)
        return name

    yield make
    for name in made:
        admin.delete(f"/v1/users/{name}")


def test_bootstrap_admin_signs_in_and_acts(backend_server, admin):
    me = admin.get("/v1/auth/me").json()
    assert me["name"] == "admin" and me["role"] == "admin"
    name = _name("by-admin")
    assert admin.post("/v1/collections", json={"name": name}).status_code == 201
    assert admin.delete(f"/v1/collections/{name}").status_code == 204


def test_anonymous_and_forged_tokens_are_refused(backend_server):
    url, secret = backend_server.url, backend_server.server.extra["auth_secret"]
    now = int(time.time())
    claims = {"sub": "admin", "ver": 1, "aud": "ragstack", "iat": now, "auth_time": now}
    forged = {
        "other secret": jwt.encode({**claims, "exp": now + 60}, "x" * 32, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 5}, secret, algorithm="HS256"),
        "unknown user": jwt.encode(
            {**claims, "sub": "nobody", "exp": now + 60}, secret, algorithm="HS256"
        ),
        "alg none": jwt.encode({**claims, "exp": now + 60}, None, algorithm="none"),
    }
    good = backend_server.sign_in()["Authorization"]
    forged["tampered"] = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for what, token in forged.items():
        response = httpx.get(f"{url}/v1/collections", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (what, response.text)
    assert httpx.get(f"{url}/v1/collections").status_code == 401
    assert httpx.get(f"{url}/v1/users").status_code == 401


def test_wrong_password_is_401_and_logged(backend_server):
    name = "admin"
    response = httpx.post(
        f"{backend_server.url}/v1/auth/sign-in",
        json={"username": name, "password": "not the password"},
        headers={"X-Forwarded-For": "203.0.113.77"},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"
    # The line fail2ban (or a reader of the journal) matches, with the client's address.
    deadline = time.time() + 5
    while time.time() < deadline:
        log = backend_server.server.log_path.read_text()
        if "sign-in failed for user 'admin' from 203.0.113.77" in log:
            break
        time.sleep(0.1)
    else:
        pytest.fail("no sign-in failure line in the backend's log")


def test_sign_in_attempts_are_limited_per_user(backend_server, make_user):
    name = make_user("reader")
    url = f"{backend_server.url}/v1/auth/sign-in"
    codes = [
        httpx.post(url, json={"username": name, "password": "guess"}).status_code for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429, codes
    # Even the right password waits now; another user is not affected.
    assert httpx.post(url, json={"username": name, "password": PASSWORD}).status_code == 429
    unknown = [
        httpx.post(url, json={"username": _name("ghost"), "password": "x"}).status_code
        for _ in range(2)
    ]
    assert unknown == [401, 401]


def test_roles(backend_server, make_user, new_collection):
    collection = new_collection()
    reader = backend_server.sign_in(make_user("reader"), PASSWORD)
    writer = backend_server.sign_in(make_user("writer"), PASSWORD)
    with (
        httpx.Client(base_url=backend_server.url, headers=reader) as r,
        httpx.Client(base_url=backend_server.url, headers=writer) as w,
    ):
        assert r.get("/v1/collections").status_code == 200
        assert r.post("/v1/collections", json={"name": _name("r")}).status_code == 403
        assert upload(r, collection, "a.txt", b"reader text").status_code == 403
        assert upload(w, collection, "a.txt", b"writer text here").status_code in (200, 201, 202)
        assert w.delete(f"/v1/collections/{collection}").status_code == 403
        for client in (r, w):
            assert client.get("/v1/users").status_code == 403
            body = {"name": _name("x"), "password": PASSWORD, "role": "admin"}
            assert client.post("/v1/users", json=body).status_code == 403


def test_collection_limited_user_sees_only_its_collections(
    backend_server, admin, make_user, new_collection
):
    mine, other = new_collection("mine"), new_collection("other")
    user = backend_server.sign_in(make_user("writer", [mine]), PASSWORD)
    with httpx.Client(base_url=backend_server.url, headers=user) as c:
        names = [item["name"] for item in c.get("/v1/collections").json()["items"]]
        assert names == [mine]
        assert upload(c, mine, "ok.txt", b"allowed words").status_code in (200, 201, 202)
        assert upload(c, other, "no.txt", b"forbidden words").status_code == 404
        assert c.get(f"/v1/collections/{other}").status_code == 404
        assert c.get(f"/v1/collections/{other}/documents").status_code == 404
        query = {"collection": other, "query": "words"}
        assert c.post("/v1/query", json=query).status_code == 404
        chat = {"collection": other, "message": "words?"}
        assert c.post("/v1/chat", json=chat).status_code == 404
        assert c.post("/v1/collections", json={"name": _name("new")}).status_code == 403
    # The admin sees both.
    names = {item["name"] for item in admin.get("/v1/collections").json()["items"]}
    assert {mine, other} <= names


def test_api_key_limited_to_collections(backend_server, admin):
    allowed = SCOPED_KEY_ONLY[0]
    with backend_server.client(backend_server.keys["scoped"]) as c:
        created = c.post("/v1/collections", json={"name": allowed})
        assert created.status_code in (201, 409), created.text
        assert c.post("/v1/collections", json={"name": _name("free")}).status_code == 403
        assert [i["name"] for i in c.get("/v1/collections").json()["items"]] == [allowed]
    assert admin.delete(f"/v1/collections/{allowed}").status_code == 204


def test_account_changes_end_sessions(backend_server, admin, make_user):
    name = make_user("writer")
    token = backend_server.sign_in(name, PASSWORD)
    url = f"{backend_server.url}/v1/collections"
    assert httpx.get(url, headers=token).status_code == 200
    new_password = PASSWORD + " 2"
    assert admin.patch(f"/v1/users/{name}", json={"password": new_password}).status_code == 200
    assert httpx.get(url, headers=token).status_code == 401
    token = backend_server.sign_in(name, new_password)
    changed = admin.patch(f"/v1/users/{name}", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert httpx.get(url, headers=token).status_code == 401
    sign_in = {"username": name, "password": new_password}
    assert httpx.post(f"{backend_server.url}/v1/auth/sign-in", json=sign_in).status_code == 401
    assert admin.delete(f"/v1/users/{name}").status_code == 204
    assert admin.get(f"/v1/users/{name}").status_code == 404


def test_refresh_gives_a_new_token_for_a_valid_one(backend_server):
    token = backend_server.sign_in()
    response = httpx.post(f"{backend_server.url}/v1/auth/refresh", headers=token)
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] > 0 and body["user"]["name"] == "admin"
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{backend_server.url}/v1/auth/me", headers=fresh).status_code == 200
    assert httpx.post(f"{backend_server.url}/v1/auth/refresh").status_code == 401


def test_bad_user_input_is_4xx(admin, make_user):
    short = {"name": _name("short"), "password": "short", "role": "reader"}
    response = admin.post("/v1/users", json=short)
    assert response.status_code == 400 and "at least" in response.json()["detail"]
    name = make_user("reader")
    again = {"name": name, "password": PASSWORD, "role": "reader"}
    assert admin.post("/v1/users", json=again).status_code == 409
    for bad in (
        {"name": "bad name!", "password": PASSWORD, "role": "reader"},
        {"name": _name("r"), "password": PASSWORD, "role": "owner"},
        {"name": _name("r"), "password": PASSWORD, "role": "reader", "collections": ["X Y"]},
    ):
        assert admin.post("/v1/users", json=bad).status_code == 422, bad
    # An admin cannot lock themselves out.
    assert admin.patch("/v1/users/admin", json={"role": "reader"}).status_code == 403
    assert admin.delete("/v1/users/admin").status_code == 403


def test_conversations_belong_to_their_user(backend_server, make_user, new_collection):
    collection = new_collection()
    first = backend_server.sign_in(make_user("reader"), PASSWORD)
    second = backend_server.sign_in(make_user("reader"), PASSWORD)
    url = backend_server.url
    answer = httpx.post(
        f"{url}/v1/chat", json={"collection": collection, "message": "hello?"}, headers=first
    )
    assert answer.status_code == 200, answer.text
    conversation = answer.json()["conversation_id"]
    path = f"{url}/v1/conversations/{conversation}"
    assert httpx.get(path, headers=first).status_code == 200
    assert httpx.get(path, headers=second).status_code == 404
    assert httpx.get(path, headers=backend_server.headers()).status_code == 404
    # Continuing another user's conversation id starts an empty one of one's own.
    again = httpx.post(
        f"{url}/v1/chat",
        json={"collection": collection, "message": "and?", "conversation_id": conversation},
        headers=second,
    )
    assert again.status_code == 200
    assert len(httpx.get(path, headers=first).json()["messages"]) == 2
    assert len(httpx.get(path, headers=second).json()["messages"]) == 2


def test_user_rate_limits_are_per_user(backend_factory):
    backend = backend_factory(
        env={"RAGSTACK_RATE_LIMIT_PER_MINUTE": "6", "RAGSTACK_RATE_LIMIT_BURST": "3"}
    )
    admin = backend.sign_in()
    with httpx.Client(base_url=backend.url, headers=admin) as c:
        for name in ("alice-rl", "bob-rl"):
            body = {"name": name, "password": PASSWORD, "role": "reader"}
            assert c.post("/v1/users", json=body).status_code == 201
    alice, bob = (backend.sign_in(n, PASSWORD) for n in ("alice-rl", "bob-rl"))
    url = f"{backend.url}/v1/collections"
    assert [httpx.get(url, headers=alice).status_code for _ in range(4)] == [200] * 3 + [429]
    assert httpx.get(url, headers=bob).status_code == 200


def test_ready_details_only_for_local_probes_and_admins(backend_server, admin):
    url = f"{backend_server.url}/ready"
    outside = {"X-Forwarded-For": "198.51.100.9"}  # as relayed by nginx on the same host
    public = httpx.get(url, headers=outside)
    assert public.status_code == 200
    assert public.json() == {"status": "ready", "checks": None}
    assert "127.0.0.1" not in public.text and "http" not in public.text
    reader = {**outside, "X-API-Key": backend_server.keys["read"]}
    assert httpx.get(url, headers=reader).json()["checks"] is None
    # A local caller presenting a non-admin credential (the UI relaying a user) sees no details.
    local_reader = {"X-API-Key": backend_server.keys["read"]}
    assert httpx.get(url, headers=local_reader).json()["checks"] is None
    for headers in ({**outside, "X-API-Key": backend_server.admin_key}, {}):
        checks = httpx.get(url, headers=headers).json()["checks"]
        assert set(checks) == {"chromadb", "redis", "llm"}, headers
    signed_in_admin = {**outside, **admin.headers}
    assert httpx.get(url, headers=signed_in_admin).json()["checks"] is not None
    health = httpx.get(f"{backend_server.url}/health", headers=outside)
    assert health.json() == {"status": "ok"}


def test_cli_manages_users(backend_server, redis_server):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "RAGSTACK_REDIS_URL": redis_server.url,
        "RAGSTACK_REDIS_PREFIX": backend_server.server.extra["prefix"],
        "RAGSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
        "RAGSTACK_PASSWORD_HASH_TIME_COST": "1",
    }
    name = _name("cli")

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ragstack.manage_users", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = cli("add", name, "--role", "writer", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    token = backend_server.sign_in(name, PASSWORD)
    assert httpx.get(f"{backend_server.url}/v1/auth/me", headers=token).json()["role"] == "writer"
    assert cli("set-collections", name, "--collections", "aaa,bbb").returncode == 0
    assert httpx.get(f"{backend_server.url}/v1/auth/me", headers=token).status_code == 401
    listed = cli("list").stdout
    assert f"{name}\twriter\taaa,bbb" in listed and "admin\tadmin\t*" in listed
    again = cli("add", name, "--role", "reader", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert cli("delete", name).returncode == 0
