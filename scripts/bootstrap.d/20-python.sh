# The project's virtualenv: the backend package (editable) with its test extra, and the dev tool chain.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev,test]'
# The collection as Ansible sees an installed one: ragstack.platform -> this checkout.
mkdir -p .cache/collections/ansible_collections/ragstack
ln -sfn ../../../.. .cache/collections/ansible_collections/ragstack/platform
