# Debian packages for the lab (docker, mmdebstrap, PyYAML for scripts/lab) and for the backend's
# tests (redis-server).
apt_install docker.io mmdebstrap make git openssh-client rsync python3-yaml
if for_tests; then apt_install redis-server; fi
