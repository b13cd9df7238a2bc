# The UI's build and test tool chain: node 22 from the npm registry under .cache/, the
# .venv-frontend virtualenv (Reflex + Playwright's Python package), Debian's chromium for the
# browser tests (tests only: Playwright drives /usr/bin/chromium; `playwright install` is never run).
# shellcheck source=../../frontend/toolchain.sh
source frontend/toolchain.sh
if for_tests; then apt_install chromium; fi
# The machine's npm (any version) only fetches node 22 itself.
command -v npm >/dev/null || apt_install npm
if [ "$("${RAGSTACK_UI_NODE_DIR}/node_modules/.bin/node" --version 2>/dev/null)" != "v${RAGSTACK_UI_NODE_VERSION}" ]; then
  mkdir -p "${RAGSTACK_UI_NODE_DIR}"
  # The node package unpacks its binary in an install script: allow exactly that one.
  cat > "${RAGSTACK_UI_NODE_DIR}/package.json" <<JSON
{"private": true, "dependencies": {"node": "${RAGSTACK_UI_NODE_VERSION}"},
 "allowScripts": {"node@${RAGSTACK_UI_NODE_VERSION}": true}}
JSON
  npm install --prefix "${RAGSTACK_UI_NODE_DIR}" --no-package-lock >/dev/null
fi
if [ ! -x "${RAGSTACK_UI_VENV}/bin/python" ]; then
  python3 -m venv "${RAGSTACK_UI_VENV}"
fi
# pip only reaches the index when a pin is not met yet.
"${RAGSTACK_UI_VENV}/bin/pip" install -q --disable-pip-version-check -r frontend/requirements-dev.txt
