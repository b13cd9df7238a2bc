"""The tokenizer ships as package data with its checksum; the API reports the release version."""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from ragstack.config import Settings
from ragstack.main import create_app
from ragstack.retrieval.model import TOKENIZER_SHA256, tokenizer_json

ROOT = Path(__file__).resolve().parents[2]


def galaxy_version() -> str:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def test_tokenizer_is_package_data_matching_its_checksum():
    data = tokenizer_json()
    assert hashlib.sha256(data).hexdigest() == TOKENIZER_SHA256
    assert json.loads(data)["model"]["type"] == "WordPiece"


def test_package_and_collection_share_one_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == galaxy_version()
    # The installed metadata the API reads is that of this pyproject (reinstall after a bump).
    assert version("ragstack") == galaxy_version()


def test_api_and_openapi_report_the_release_version():
    app = create_app(Settings(llm_provider="none", log_json=False, _env_file=None))
    assert app.version == galaxy_version()
    exported = json.loads((ROOT / "docs" / "api" / "openapi.json").read_text())
    assert exported["info"]["version"] == galaxy_version()
