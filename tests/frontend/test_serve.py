"""The production server's preparation of the prebuilt web dir (no Reflex needed)."""

import gzip

import pytest
from ragstack_ui.serve import BUILD_PORT, main, prepare_web_dir

ENV_CHUNK = (
    f"var e={{PING:`http://localhost:{BUILD_PORT}/ping`,"
    f"EVENT:`ws://localhost:{BUILD_PORT}/_event`,TRANSPORT:`websocket`}};export{{e as t}};"
)


@pytest.fixture
def built_app(tmp_path):
    app = tmp_path / "release" / "app"
    assets = app / ".web" / "build" / "client" / "assets"
    assets.mkdir(parents=True)
    (assets / "reflex-env-AbC123.js").write_text(ENV_CHUNK)
    (assets / "reflex-env-AbC123.js.gz").write_bytes(gzip.compress(ENV_CHUNK.encode()))
    (assets / "other.js").write_text(f"fetch('//localhost:{BUILD_PORT}/')")
    (app / ".web" / "build" / "client" / "index.html").write_text("<html></html>")
    backend = app / ".web" / "backend"
    backend.mkdir()
    (backend / "stateful_pages.json").write_text("[]")
    (app / ".web" / "env.json").write_text("{}")
    return app


def test_port_is_rewritten_in_a_copy(built_app, tmp_path):
    state = tmp_path / "state"
    web = prepare_web_dir(built_app, state, 3123)

    chunk = web / "build" / "client" / "assets" / "reflex-env-AbC123.js"
    assert "ws://localhost:3123/_event" in chunk.read_text()
    assert f"localhost:{BUILD_PORT}" not in chunk.read_text()
    compressed = chunk.with_name(chunk.name + ".gz").read_bytes()
    assert gzip.decompress(compressed).decode() == chunk.read_text()
    # Only the env chunk is touched, and the release itself never is.
    assert f"localhost:{BUILD_PORT}" in (web / "build/client/assets/other.js").read_text()
    original = built_app / ".web/build/client/assets/reflex-env-AbC123.js"
    assert original.read_text() == ENV_CHUNK
    assert (web / "backend" / "stateful_pages.json").read_text() == "[]"
    assert (web / "env.json").exists()


def test_restart_on_another_port_starts_from_the_release_again(built_app, tmp_path):
    state = tmp_path / "state"
    prepare_web_dir(built_app, state, 3123)
    (state / "web" / "stale").write_text("left over")
    web = prepare_web_dir(built_app, state, BUILD_PORT)
    chunk = web / "build/client/assets/reflex-env-AbC123.js"
    assert chunk.read_text() == ENV_CHUNK
    assert not (web / "stale").exists()


def test_refuses_to_start_outside_a_built_app(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["--port", "3999"])
    assert "run from the built app directory" in capsys.readouterr().err
