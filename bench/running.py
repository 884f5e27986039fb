"""The whole system for a benchmark: `python -m services.run` (intake, alerts, referrals, exporter)
on the run's broker, with a fresh topic prefix, data directory, tokens and ports; ready when both the
intake and the alerts service say so. Used by the latency and whole-system benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    PYTHON,
    free_port,
    new_prefix,
    say,
    service_env,
    settings_for,
    start_process,
    stop_process,
    write_tokens,
)
from bench.intake import wait_ready
from services.common.settings import Settings


@dataclass
class Running:
    settings: Settings
    tokens: dict[str, str]  # role → bearer token
    intake: str  # base URLs
    alerts: str
    referrals: str


@contextmanager
def services_running(bootstrap: str, workdir: Path, name: str) -> Iterator[Running]:
    prefix = new_prefix(name)
    data_dir = workdir / prefix.rstrip(".")
    data_dir.mkdir(parents=True)
    tokens_file = workdir / f"{name}-tokens.yaml"
    tokens = write_tokens(tokens_file)
    settings = settings_for(bootstrap, prefix, data_dir, intake_port=free_port(), alerts_port=free_port(), referrals_port=free_port())
    running = Running(settings, tokens, *(f"http://127.0.0.1:{port}" for port in (settings.intake_port, settings.alerts_port, settings.referrals_port)))
    say(f"{name}: starting `python -m services.run` (intake {running.intake}, alerts {running.alerts})")
    proc = start_process([PYTHON, "-m", "services.run"], env=service_env(settings, tokens_file), log=workdir / f"{name}-services-run.log")
    try:
        asyncio.run(wait_ready(f"{running.intake}/readyz"))
        asyncio.run(wait_ready(f"{running.alerts}/readyz"))
        yield running
    finally:
        stop_process(proc, timeout=30)
