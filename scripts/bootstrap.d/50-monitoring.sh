# The checkers the monitoring tests run on the controller: promtool (Debian's prometheus
# package), amtool (prometheus-alertmanager) and prometheus-blackbox-exporter --config.check.
# The packages are unpacked into .cache/monitoring-tools rather than installed, so that no
# Prometheus/Alertmanager daemon starts on a developer's machine; tests/monitoring puts
# .cache/monitoring-tools/usr/bin on PATH.
for_tests || return 0
monitoring_tools=.cache/monitoring-tools
monitoring_debs=(prometheus prometheus-alertmanager prometheus-blackbox-exporter)
if [ ! -x "$monitoring_tools/usr/bin/promtool" ] || [ ! -x "$monitoring_tools/usr/bin/amtool" ] \
   || [ ! -x "$monitoring_tools/usr/bin/prometheus-blackbox-exporter" ]; then
  monitoring_download=$(mktemp -d)
  if ! (cd "$monitoring_download" && apt-get download -qq "${monitoring_debs[@]}" >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$monitoring_download" && apt-get download -qq "${monitoring_debs[@]}" >/dev/null)
  fi
  mkdir -p "$monitoring_tools"
  for deb in "$monitoring_download"/*.deb; do
    dpkg-deb -x "$deb" "$monitoring_tools"
  done
  rm -rf "$monitoring_download"
fi
