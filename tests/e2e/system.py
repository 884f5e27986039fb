"""Run the whole system (`python -m services.run`) as a subprocess, as `make run` does, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROLES = {
    "intake": {"roles": ["intake"], "agency": None},
    "inclusion_team": {"roles": ["inclusion_team"], "agency": None},
    "admin": {"roles": ["admin"], "agency": None},
    "ops": {"roles": ["ops"], "agency": None},
    "ias": {"roles": ["agency"], "agency": "ias"},
    "exclusions_officer": {"roles": ["agency"], "agency": "exclusions_officer"},
    "reu": {"roles": ["agency"], "agency": "reu"},
    "nas": {"roles": ["agency"], "agency": "nas"},
    "virtual_school": {"roles": ["agency"], "agency": "virtual_school"},  # issue 11
    "ace": {"roles": ["agency"], "agency": "ace"},
    "coram": {"roles": ["agency"], "agency": "coram"},
    "inclusion_team_305": {"roles": ["inclusion_team"], "agency": None, "la_codes": [305]},
    "inclusion_team_334": {"roles": ["inclusion_team"], "agency": None, "la_codes": [334]},
    "web": {"roles": ["web"], "agency": None},  # the pages' own token (started only with web=True)
}
SERVICES = ("intake", "alerts", "referrals")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class System:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None, dev_tokens: bool = False, web: bool = False):
        self.data_dir = data_dir
        self.web = web  # also the pages and the dev OpenID provider (tests/e2e/test_pages.py)
        self.ports = {s: free_port() for s in (*SERVICES, "web", "dev_oidc")}
        self.broker_port = free_port()
        self.exporter_port = free_port()
        self.tokens = {name: f"e2e-{name}-{uuid.uuid4().hex}" for name in ROLES}
        self.prefix = f"e2e{uuid.uuid4().hex[:6]}."
        self.extra_env = extra_env or {}
        self.dev_tokens = dev_tokens  # True: no tokens file; `make run` writes <data dir>/dev-tokens.yaml
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / "system.log"

    def env(self) -> dict[str, str]:
        tokens = self.data_dir / "tokens.yaml"
        entries = [{"token": self.tokens[n], "principal": f"e2e-{n}", **spec} for n, spec in ROLES.items()]
        tokens.write_text(json.dumps({"tokens": entries}))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
        if not self.dev_tokens:
            env["SIGNPOST_TOKENS_FILE"] = str(tokens)
            if self.web:
                env["SIGNPOST_WEB_TOKEN"] = self.tokens["web"]
        env.update(
            SIGNPOST_DATA_DIR=str(self.data_dir / "var"),
            SIGNPOST_BROKER_PORT=str(self.broker_port),
            SIGNPOST_INTAKE_PORT=str(self.ports["intake"]),
            SIGNPOST_ALERTS_PORT=str(self.ports["alerts"]),
            SIGNPOST_REFERRALS_PORT=str(self.ports["referrals"]),
            SIGNPOST_EXPORTER_PORT=str(self.exporter_port),  # the supervisor runs the exporter too
            SIGNPOST_TOPIC_PREFIX=self.prefix,
            SIGNPOST_WEB_PORT=str(self.ports["web"]),
            SIGNPOST_DEV_OIDC_PORT=str(self.ports["dev_oidc"]),
            **self.extra_env,
        )
        return env

    def start(self, timeout: float = 90) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed by the process's end
        self.proc = subprocess.Popen([sys.executable, "-m", "services.run"], cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()  # a system that never came up must not keep running (and loading the machine) after the test
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.time() + timeout
        for service in (*SERVICES, "web") if self.web else SERVICES:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the system exited with {self.proc.returncode}; see {self.log_path}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[service]}/readyz", timeout=2) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.time() > deadline:
                    raise RuntimeError(f"{service} not ready in {timeout}s; see {self.log_path}")
                time.sleep(0.25)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def broker_pid(self) -> int:
        out = subprocess.run(["pgrep", "-f", f"broker --listener-url tcp://127.0.0.1:{self.broker_port}"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        if not pids:
            raise RuntimeError("no embedded broker process found")
        return pids[0]

    def service_pid(self, service: str) -> int:
        """The pid of the supervisor's child process running `python -m services.<service>` now."""
        assert self.proc is not None, "the system is not running"
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", rf"services\.{service}$"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        if len(pids) != 1:
            raise RuntimeError(f"expected one {service} process under the supervisor, found {pids}")
        return pids[0]

    def sqlite_path(self, service: str) -> Path:
        """The service's SQLite store (the default when SIGNPOST_DATABASE_URL is unset)."""
        return self.data_dir / "var" / f"{service}.sqlite3"

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def request(self, service: str, method: str, path: str, who: str | None, body: object = None, content_type: str = "application/json") -> tuple[int, object]:
        data = None if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(self.url(service, path), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if who:
            req.add_header("Authorization", f"Bearer {self.tokens[who]}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, raw.decode(errors="replace")
