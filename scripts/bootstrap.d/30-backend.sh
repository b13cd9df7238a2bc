# The backend's test servers (sourced by scripts/bootstrap; cwd = repo root; tests only).
# - redis-server: Debian's, started by the test fixtures with a password (10-apt, tests only).
# - ChromaDB server in its own venv: `chromadb` conflicts with the backend's `chromadb-client`.
#   `chroma run` (the Rust server) ignores token auth in 1.5.9, so the fixtures (and production,
#   see app/README.md) run the package's Python server, `uvicorn chromadb.app:app`, which needs
#   fastapi and the FastAPI OpenTelemetry instrumentation besides chromadb.
#   Installed from requirements/chromadb.txt (hashed), the lock the release's ChromaDB wheelhouse
#   is built from (scripts/build-release no longer reads this venv): the tests run what hosts get.
for_tests || return 0
chroma_lock=requirements/chromadb.txt
if ! .venv-chroma/bin/python - "${chroma_lock}" 2>/dev/null <<'PY'
import re, sys
from importlib.metadata import version
pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", open(sys.argv[1]).read(), re.M)
sys.exit(not pins or any(version(n) != v for n, v in pins))
PY
then
  [ -x .venv-chroma/bin/python ] || python3 -m venv .venv-chroma
  .venv-chroma/bin/pip install -q --upgrade pip
  .venv-chroma/bin/pip install -q --require-hashes --requirement "${chroma_lock}"
fi
