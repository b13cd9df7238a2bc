"""Export the OpenAPI spec: ``python -m ragstack.openapi [PATH]`` (default docs/api/openapi.json);
``--check`` exits 1 when the file differs from what the code declares."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"


def spec() -> dict[str, Any]:
    from ragstack.config import Settings
    from ragstack.main import create_app

    # Settings that need no running service: the spec does not depend on configuration.
    app = create_app(Settings(llm_provider="none", log_json=False, _env_file=None))
    return app.openapi()


def render() -> str:
    return json.dumps(spec(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")]
    path = Path(paths[0]) if paths else DEFAULT_PATH
    text = render()
    if check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python -m ragstack.openapi", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
