# The project's virtualenv: the backend package (editable), the dev tool chain (Ansible, molecule,
# linters) and, for the tests, the test extra. Skipped when pyproject.toml is unchanged since the
# last install of these extras (an editable install sees code changes without reinstalling).
extras=dev
if for_tests; then extras=dev,test; fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
case "$(cat .venv/.ragstack-installed 2>/dev/null || true)" in
  "dev,test ${digest}" | "${extras} ${digest}") ;;  # dev,test holds dev too
  *)
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e ".[${extras}]"
    echo "${extras} ${digest}" > .venv/.ragstack-installed
    ;;
esac
# The collection as Ansible sees an installed one: ragstack.platform -> this checkout.
mkdir -p .cache/collections/ansible_collections/ragstack
ln -sfn ../../../.. .cache/collections/ansible_collections/ragstack/platform
