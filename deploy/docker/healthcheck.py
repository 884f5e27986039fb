"""Container health check for the Signpost image: GET /healthz of the service in this container.

No curl in the image: this uses the standard library only. Which service (and so which port):
the first argument (`intake`, `alerts`, `referrals`, `exporter`, `web`), else $SIGNPOST_SERVICE, else
the `python -m services.<name>` command line of PID 1. The port follows the contract's settings:
SIGNPOST_<NAME>_PORT, default 8001 / 8002 / 8003 (the pages: 8000).

Exit 0 when /healthz answers 200 within the timeout, 1 otherwise (Docker's convention).
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORTS = {"intake": 8001, "alerts": 8002, "referrals": 8003, "exporter": 9308, "web": 8000}


def service_name(argv: list[str]) -> str | None:
    if len(argv) > 1:
        return argv[1]
    if os.environ.get("SIGNPOST_SERVICE"):
        return os.environ["SIGNPOST_SERVICE"]
    try:
        with open("/proc/1/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    for arg in args:
        if arg.startswith("services.") and arg.removeprefix("services.") in DEFAULT_PORTS:
            return arg.removeprefix("services.")
    return None


def main(argv: list[str]) -> int:
    name = service_name(argv)
    if name not in DEFAULT_PORTS:
        print(f"signpost-healthcheck: unknown service {name!r}; pass one of {', '.join(DEFAULT_PORTS)}", file=sys.stderr)  # noqa: T201
        return 1
    port = int(os.environ.get(f"SIGNPOST_{name.upper()}_PORT", DEFAULT_PORTS[name]))
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=float(os.environ.get("SIGNPOST_HEALTHCHECK_TIMEOUT", "4"))) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"signpost-healthcheck: {url}: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
