# The project's virtualenv: the backend package (editable), the dev tool chain (Ansible, molecule,
# linters) and, for the tests, the test extra. The backend's dependencies are constrained to the
# versions of its hashed lock (requirements/backend.txt), so the tests run what the hosts install.
# Skipped when pyproject.toml and the lock are unchanged since the last install of these extras
# (an editable install sees code changes without reinstalling).
extras=dev
if for_tests; then extras=dev,test; fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
digest=$(cat pyproject.toml requirements/backend.txt | sha256sum | cut -d' ' -f1)
case "$(cat .venv/.ragstack-installed 2>/dev/null || true)" in
  "dev,test ${digest}" | "${extras} ${digest}") ;;  # dev,test holds dev too
  *)
    mkdir -p .cache
    # The lock's pins without their hashes: pip's constraints take no --hash.
    sed -nE 's/^([A-Za-z0-9][A-Za-z0-9._-]*==[^ \\]+).*/\1/p' requirements/backend.txt \
      > .cache/backend-constraints.txt
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -c .cache/backend-constraints.txt -e ".[${extras}]"
    echo "${extras} ${digest}" > .venv/.ragstack-installed
    ;;
esac
# The collection as Ansible sees an installed one: ragstack.platform -> this checkout.
mkdir -p .cache/collections/ansible_collections/ragstack
ln -sfn ../../../.. .cache/collections/ansible_collections/ragstack/platform
