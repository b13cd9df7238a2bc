"""HTTP calls made from inside a lab host (its python3, no curl needed), for testinfra tests.

Imported by the backend, frontend and stack scenarios (sys.path), beside molecule/shared/checks.py.
"""

import json
import shlex
import time

_CLIENT = r"""
import json, ssl, sys, urllib.request, urllib.error, uuid
spec = json.loads(sys.argv[1])
headers = dict(spec.get("headers", {}))
data = None
if "json" in spec:
    data = json.dumps(spec["json"]).encode()
    headers["Content-Type"] = "application/json"
elif "file" in spec:
    boundary = uuid.uuid4().hex
    name, content = spec["file"]
    disposition = f"form-data; name=\"file\"; filename=\"{name}\""
    parts = [f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
             f"Content-Type: text/markdown\r\n\r\n{content}\r\n"]
    if "metadata" in spec:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                     f"{json.dumps(spec['metadata'])}\r\n")
    parts.append(f"--{boundary}--\r\n")
    data = "".join(parts).encode()
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
request = urllib.request.Request(spec["url"], data=data, headers=headers, method=spec["method"])
try:
    # The lab's TLS certificates are self-signed: what is checked here is the path, not the CA.
    context = ssl._create_unverified_context()
    if "cert" in spec:  # a client certificate [cert, key] (the monitoring tier requires one)
        context.load_cert_chain(*spec["cert"])
    timeout = spec.get("timeout", 30)
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        status, body = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read().decode()
except OSError as error:
    status, body = 0, str(error)
print(json.dumps({"status": status, "body": body}))
"""

# The client certificate Prometheus presents (roles/prometheus): the monitoring tier (Prometheus,
# Alertmanager, the exporters) answers only a certificate of the internal CA.
# Use: request(host, "GET", url, **MONITOR)
_TLS = "/etc/ragstack/tls/prometheus"
MONITOR = {"cert": [f"{_TLS}/cert.pem", f"{_TLS}/key.pem"]}


class Response:
    def __init__(self, status: int, body: str):
        self.status = status
        self.text = body

    def json(self):
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<{self.status} {self.text[:300]}>"


def request(host, method: str, url: str, **spec) -> Response:
    """One request from `host`: json=..., file=(name, text), metadata=..., headers=...,
    cert=[cert file, key file] on the host (a client certificate)."""
    payload = json.dumps({"method": method, "url": url, **spec})
    result = host.check_output(f"python3 -c {shlex.quote(_CLIENT)} {shlex.quote(payload)}")
    parsed = json.loads(result)
    return Response(parsed["status"], parsed["body"])


def wait_for(host, url: str, status: int = 200, timeout: float = 120, **spec) -> Response:
    """Poll until `url` answers `status` (e.g. after a restart); the last response otherwise."""
    deadline = time.monotonic() + timeout
    response = request(host, "GET", url, timeout=5, **spec)
    while response.status != status and time.monotonic() < deadline:
        time.sleep(1)
        response = request(host, "GET", url, timeout=5, **spec)
    return response
