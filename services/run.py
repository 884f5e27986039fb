"""`make run`: the embedded broker and every service, in the foreground.

Starts the broker (unless KAFKA_BOOTSTRAP_SERVERS points elsewhere), creates the topics,
writes dev tokens when no tokens file is given, starts each service as its own process,
restarts any that dies, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from services.common import secrets
from services.common.auth import write_dev_tokens
from services.common.broker import EmbeddedBroker
from services.common.kafka import ensure_topics
from services.common.settings import Settings
from services.web.dev_oidc import DEV_USERS

SERVICES = ("intake", "alerts", "referrals", "exporter", "web")


def say(message: str) -> None:
    print(f"[signpost] {message}", flush=True)  # noqa: T201 - the supervisor talks to a person


@dataclass
class Child:
    name: str
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        module = "services.web.dev_oidc" if self.name == "dev-oidc" else f"services.{self.name}"
        self.proc = subprocess.Popen([sys.executable, "-m", module], env=self.env, stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def available_services() -> list[str]:
    return [s for s in SERVICES if importlib.util.find_spec(f"services.{s}.__main__") is not None]


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self.children: list[Child] = []
        self.stopping = False

    def run(self) -> int:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["SIGNPOST_DATA_DIR"] = str(s.data_dir.resolve())
        tokens_note = f"tokens file: {s.tokens_file}"
        if s.tokens_file is None:
            dev = write_dev_tokens(s.data_dir / "dev-tokens.yaml")
            env["SIGNPOST_TOKENS_FILE"] = str(dev.path.resolve())
            tokens_note = f"dev tokens (one per role) in {dev.path.resolve()}"
            if s.web_token is None and s.web_token_file is None:
                env["SIGNPOST_WEB_TOKEN"] = dev.tokens["web"]  # the pages' own token (role web)
        key_note = "pseudonym key: SIGNPOST_PSEUDONYM_KEY"
        if s.pseudonym_key is None:
            secrets.pseudonym_key(s)  # generated once into the data dir; every service reads the same file
            key_note = f"dev pseudonym key (generated; production sets SIGNPOST_PSEUDONYM_KEY) in {secrets.dev_key_path(s).resolve()}"
        if s.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(s.broker_port, log_file=s.data_dir / "broker.log")
            self.broker.start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap
            env["SIGNPOST_BROKER_KIND"] = "embedded"
            say(f"embedded broker (Tansu, memory only) on {self.broker.bootstrap}")
        else:
            say(f"external Kafka at {s.kafka_bootstrap_servers}")
        self._ensure_topics(env)
        names = available_services()
        if "web" in names and not env.get("SIGNPOST_WEB_TOKEN"):
            names.remove("web")
            say("web pages not started: set SIGNPOST_WEB_TOKEN (a token of role web in the tokens file)")
        dev_oidc = "web" in names and s.oidc_issuer is None
        for name in names + (["dev-oidc"] if dev_oidc else []):
            child = Child(name, env)
            child.start()
            self.children.append(child)
        for child in self.children:
            if child.name in SERVICES:
                say(f"{child.name:<9} http://{s.host}:{s.port_of(child.name)}  (docs: /docs, health: /healthz /readyz /metrics)")  # type: ignore[arg-type]
        if "web" in names:
            say(f"pages     http://{s.host}:{s.web_port}  (sign in there)")
        if dev_oidc:
            say(f"dev sign-in provider http://127.0.0.1:{s.dev_oidc_port}: pick a user on its page: {', '.join(DEV_USERS)} (README: Sign in)")
        say(tokens_note)
        say(key_note)
        say("Ctrl-C stops everything")
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        while not self.stopping:
            self._watch(env)
            time.sleep(0.25)
        self._shutdown()
        return 0

    def _ensure_topics(self, env: dict[str, str]) -> None:
        settings = self.settings.model_copy(update={"kafka_bootstrap_servers": env.get("KAFKA_BOOTSTRAP_SERVERS")})
        asyncio.run(ensure_topics(settings))

    def _watch(self, env: dict[str, str]) -> None:
        if self.broker is not None and not self.broker.alive():
            say("the embedded broker stopped: starting it again (it starts empty; the intake relay publishes its log again)")
            self.broker.start()
            self._ensure_topics(env)
        now = time.monotonic()
        for child in self.children:
            if child.alive() or self.stopping:
                continue
            if child.next_start == 0.0:
                code = child.proc.returncode if child.proc else None
                delay = min(30.0, 0.5 * 2 ** min(child.restarts, 6)) if now - child.started_at < 60 else 0.5
                child.next_start = now + delay
                say(f"{child.name} exited ({code}); restarting in {delay:.1f}s")
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()

    def _stop(self, signum: int, _frame: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        say(f"{signal.Signals(signum).name}: stopping")

    def _shutdown(self) -> None:
        for child in self.children:
            if child.alive():
                child.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        if self.broker is not None:
            self.broker.stop()
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.run",
        description="Run Signpost in the foreground: the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set) and every service.",
        epilog="Settings come from the environment: SIGNPOST_DATA_DIR, SIGNPOST_*_PORT, SIGNPOST_TOKENS_FILE, SIGNPOST_DATABASE_URL, ... (README).",
    )
    parser.parse_args(argv)
    return Supervisor(Settings()).run()


if __name__ == "__main__":
    sys.exit(main())
