# The project's virtualenv. For the tests: the backend package (editable), the dev tool chain
# (Ansible, molecule, linters) and the test extra; the backend's dependencies are constrained to
# the versions of its hashed lock (requirements/backend.txt), so the tests run what the hosts
# install. For the demo: only pyproject.toml's deploy extra (Ansible), without the backend package.
# Skipped when pyproject.toml and the lock are unchanged since the last install of as much or more
# (an editable install sees code changes without reinstalling).
extras=deploy
if for_tests; then extras=dev,test; fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
digest=$(cat pyproject.toml requirements/backend.txt | sha256sum | cut -d' ' -f1)
installed=$(cat .venv/.ragstack-installed 2>/dev/null || true)
if [ "${installed}" != "dev,test ${digest}" ] && [ "${installed}" != "${extras} ${digest}" ]; then
  mkdir -p .cache
  .venv/bin/pip install -q --upgrade pip
  if [ "${extras}" = deploy ]; then
    mapfile -t deploy_pins < <(python3 -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["deploy"]))')
    .venv/bin/pip install -q "${deploy_pins[@]}"
  else
    # The lock's pins without their hashes: pip's constraints take no --hash.
    sed -nE 's/^([A-Za-z0-9][A-Za-z0-9._-]*==[^ \\]+).*/\1/p' requirements/backend.txt \
      > .cache/backend-constraints.txt
    .venv/bin/pip install -q -c .cache/backend-constraints.txt -e ".[${extras}]"
  fi
  echo "${extras} ${digest}" > .venv/.ragstack-installed
fi
# The collection as Ansible sees an installed one: ragstack.platform -> this checkout.
mkdir -p .cache/collections/ansible_collections/ragstack
ln -sfn ../../../.. .cache/collections/ansible_collections/ragstack/platform
