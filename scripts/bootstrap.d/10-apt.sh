# Debian packages for the lab (docker, mmdebstrap) and for the backend's tests (redis-server).
apt_install docker.io mmdebstrap redis-server make git openssh-client rsync
