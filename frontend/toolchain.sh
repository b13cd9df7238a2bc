# Build tool chain of the UI, sourced by scripts/bootstrap.d/40-frontend.sh and scripts/build-frontend.
# Reflex 0.10.1 needs node >= 22.22; Debian's is 20, and Reflex's own download of bun/node
# cannot work offline, so node comes from the npm registry and Reflex is told to use npm.
# Expects RAGSTACK_ROOT (the repository root).
RAGSTACK_UI_NODE_VERSION=22.23.3
RAGSTACK_UI_NODE_DIR="${RAGSTACK_ROOT}/.cache/node-${RAGSTACK_UI_NODE_VERSION}"
RAGSTACK_UI_VENV="${RAGSTACK_ROOT}/.venv-frontend"
export PATH="${RAGSTACK_UI_NODE_DIR}/node_modules/.bin:${PATH}"
export REFLEX_USE_NPM=1
export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_DIR="${RAGSTACK_ROOT}/.cache/reflex"
export NPM_CONFIG_REGISTRY=https://registry.npmjs.org/
export NPM_CONFIG_CACHE="${RAGSTACK_ROOT}/.cache/npm"
export NPM_CONFIG_AUDIT=false
export NPM_CONFIG_FUND=false
export NPM_CONFIG_UPDATE_NOTIFIER=false
