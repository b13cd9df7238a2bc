"""Shared setup of the UI tests: import paths, and the browser/server fixtures in e2e.py."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "frontend", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
