# The two commands of the README, and their parts.
.PHONY: demo test bootstrap lint pytest molecule check-mode lab-down collection lock

## Bring up the lab hosts and deploy the stack onto them, then print where to look (installs only
## what it needs itself: scripts/bootstrap --demo).
demo:
	scripts/demo

## Run every test (linters, pytest, molecule); what CI runs. It bootstraps itself (scripts/test).
test:
	scripts/test

bootstrap:
	scripts/bootstrap

lint:
	scripts/test lint

pytest:
	scripts/test pytest

molecule:
	scripts/test molecule $(SCENARIO)

## A scenario's playbook in check mode on fresh hosts (default: stack, i.e. site.yml).
check-mode:
	scripts/test check $(SCENARIO)

## Remove the lab hosts.
lab-down:
	scripts/lab down

## Build the collection tarball (ragstack-platform-VERSION.tar.gz).
collection:
	.venv/bin/ansible-galaxy collection build --force --output-path build/

## Regenerate the hashed Python locks of requirements/ (scripts/lock; --check: compare only).
lock:
	scripts/lock
