"""A real Alertmanager (Debian's prometheus-alertmanager) on deploy/alertmanager's shipped
configuration, rendered by its entrypoint.sh, and a local webhook receiver that records what it gets."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from conftest import ensure_tool, free_port

ROOT = Path(__file__).resolve().parents[2]
AM_DIR = ROOT / "deploy" / "alertmanager"
ENTRYPOINT = AM_DIR / "entrypoint.sh"


def render(out: Path, receiver: str, **env: str) -> subprocess.CompletedProcess:
    """entrypoint.sh with RENDER_ONLY=1: the configuration the container would start with."""
    full = {"PATH": os.environ["PATH"], "SIGNPOST_ALERT_RECEIVER": receiver, "ALERTMANAGER_CONFIG_OUT": str(out), "RENDER_ONLY": "1", **env}
    return subprocess.run(["sh", str(ENTRYPOINT)], capture_output=True, text=True, env=full, timeout=30, check=False)


class WebhookReceiver:
    """Records each Alertmanager webhook body (JSON, version 4) POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict[str, Any]]:
        return [alert for body in list(self.bodies) for alert in body["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def alertmanager(tmp_path: Path, webhook_url: str, wait: str = "1s") -> Iterator[str]:
    """Debian's Alertmanager on the shipped configuration (webhook receiver), its waits shortened to
    `wait` so a test does not sit out group_wait; routing and inhibition as shipped. Yields its URL."""
    binary = ensure_tool("prometheus-alertmanager", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    done = render(config, "webhook", SIGNPOST_ALERT_WEBHOOK_URL=webhook_url)
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load(config.read_text())
    for route in [doc["route"], *doc["route"].get("routes", [])]:
        route.update({k: wait for k in ("group_wait", "group_interval") if k in route or route is doc["route"]})
    config.write_text(yaml.safe_dump(doc))
    port = free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"alertmanager exited ({proc.returncode}): {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"alertmanager not ready after 30 s: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
