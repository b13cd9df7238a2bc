"""Configuration: every bad variable stops the start with a message naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ragstack.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAGSTACK_CHUNK_SIZE_CHARS", "lots"),
        ("RAGSTACK_LLM_PROVIDER", "gpt-from-the-moon"),
        ("RAGSTACK_API_KEYS", '[{"name": "x", "sha256": "short", "scopes": ["read"]}]'),
        ("RAGSTACK_API_KEYS", "not json"),
        ("RAGSTACK_CHROMA_URL", "chroma:8002"),
        ("RAGSTACK_RATE_LIMIT_BURST", "0"),
    ],
)
def test_bad_variable_is_named(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert variable in str(raised.value)


def test_overlap_must_be_smaller_than_chunk(monkeypatch):
    monkeypatch.setenv("RAGSTACK_CHUNK_SIZE_CHARS", "200")
    monkeypatch.setenv("RAGSTACK_CHUNK_OVERLAP_CHARS", "300")
    with pytest.raises(ConfigError, match="RAGSTACK_CHUNK_OVERLAP_CHARS"):
        load_settings()


def test_lists_accept_json_or_commas(monkeypatch):
    monkeypatch.setenv("RAGSTACK_CORS_ORIGINS", "http://a.example, http://b.example")
    assert load_settings().cors_origins == ["http://a.example", "http://b.example"]
    monkeypatch.setenv("RAGSTACK_CORS_ORIGINS", '["http://c.example"]')
    assert load_settings().cors_origins == ["http://c.example"]


def test_server_refuses_to_start_with_bad_variable(tmp_path):
    env = {"RAGSTACK_LLM_TIMEOUT_SECONDS": "-5", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import ragstack.main as m; m.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "RAGSTACK_LLM_TIMEOUT_SECONDS" in result.stderr


def test_readme_documents_every_variable():
    import re
    from pathlib import Path

    from ragstack.config import ENV_PREFIX, Settings

    readme = (Path(__file__).resolve().parents[2] / "app" / "README.md").read_text()
    documented = set(re.findall(r"`(RAGSTACK_[A-Z_]+)`", readme))
    declared = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert declared - documented == set(), "undocumented variables"
    assert documented - declared == set(), "README names variables that do not exist"
