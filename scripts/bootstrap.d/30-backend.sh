# The backend's test servers (sourced by scripts/bootstrap; cwd = repo root).
# - redis-server: Debian's, started by the test fixtures with a password (10-apt, tests only).
# - ChromaDB server in its own venv (the demo's release takes its wheelhouse from it too): `chromadb` conflicts with the backend's `chromadb-client`.
#   `chroma run` (the Rust server) ignores token auth in 1.5.9, so the fixtures (and production,
#   see app/README.md) run the package's Python server, `uvicorn chromadb.app:app`, which needs
#   fastapi and the FastAPI OpenTelemetry instrumentation besides chromadb.
chroma_pins=("chromadb==1.5.9" "fastapi==0.163.2" "opentelemetry-instrumentation-fastapi==0.66b2")
if ! .venv-chroma/bin/python - "${chroma_pins[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
then
  [ -x .venv-chroma/bin/python ] || python3 -m venv .venv-chroma
  .venv-chroma/bin/pip install -q --upgrade pip
  .venv-chroma/bin/pip install -q "${chroma_pins[@]}"
fi
