# The lab images (scripts/lab image: Debian from its mirror with mmdebstrap, the common role's
# packages preinstalled): minutes of downloads and dpkg that need only 10-apt's packages, so they are
# built in the background beside the later parts. The tests' run waits for them at the end (their
# Debian 13 host needs the second image); the demo does not: its hosts are all Debian 12 and its
# `scripts/lab up` waits for that image (the build holds a lock) beside the release build.
lab_releases=all
for_tests || lab_releases=bookworm
mkdir -p .cache
scripts/lab image --release "${lab_releases}" > .cache/bootstrap-12-lab.log 2>&1 &
if for_tests; then background_parts+=("$!:12-lab:.cache/bootstrap-12-lab.log"); fi
