"""What every benchmark shares: the broker, settings, topics, preloading, subprocesses, RSS.

Everything runs against one embedded broker (Tansu, memory only) started for the run, so
Signpost and its baselines see the same broker on the same machine. Each benchmark uses
its own topic prefix, so nothing one benchmark writes is read by another.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas import pseudonym
from services.common import kafka
from services.common.broker import EmbeddedBroker, wait_for_kafka
from services.common.settings import Settings
from services.intake.eventlog import LogRecord, headers_for

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Tansu answers a new member's JoinGroup after half the session timeout: keep both short.
CONSUMER_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)  # noqa: T201 - progress for the person running it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_prefix(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}."


# ---------------------------------------------------------------------------- broker and settings
@contextmanager
def embedded_broker(workdir: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(free_port(), log_file=workdir / "broker.log")
    broker.start()
    try:
        asyncio.run(wait_for_kafka(broker.bootstrap, timeout=30))
        yield broker
    finally:
        broker.stop()


# One pseudonym key for the whole run: the generator's record keys and every service the
# benchmarks start derive the same child ids (a benchmark, never a deployment's key).
BENCH_PSEUDONYM_KEY = "signpost-benchmark-pseudonym-key"


def configure_bench_pseudonyms() -> None:
    pseudonym.configure(BENCH_PSEUDONYM_KEY.encode())


def settings_for(bootstrap: str, prefix: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pseudonym_key": BENCH_PSEUDONYM_KEY,
        "kafka_bootstrap_servers": bootstrap,
        "broker_kind": "embedded",
        "topic_prefix": prefix,
        "data_dir": data_dir,
        "database_url": None,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


def service_env(settings: Settings, tokens_file: Path, **extra: str) -> dict[str, str]:
    """The environment a service subprocess reads its settings from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "SIGNPOST_BROKER_KIND": "embedded",
            "SIGNPOST_TOPIC_PREFIX": settings.topic_prefix,
            "SIGNPOST_DATA_DIR": str(settings.data_dir),
            "SIGNPOST_PSEUDONYM_KEY": BENCH_PSEUDONYM_KEY,
            "SIGNPOST_TOKENS_FILE": str(tokens_file),
            "SIGNPOST_LOG_LEVEL": "WARNING",
            "SIGNPOST_INTAKE_PORT": str(settings.intake_port),
            "SIGNPOST_ALERTS_PORT": str(settings.alerts_port),
            "SIGNPOST_REFERRALS_PORT": str(settings.referrals_port),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def write_tokens(path: Path) -> dict[str, str]:
    """A tokens file with one token per role the benchmarks use; returns role → bearer token."""
    tokens = {role: f"bench-{role}-{uuid.uuid4().hex}" for role in ("intake", "inclusion_team", "admin")}
    entries = [{"token": t, "principal": f"bench-{role}", "roles": [role]} for role, t in tokens.items()]
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return tokens


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 3) -> None:
    """Topics with explicit configs (retention.ms): Tansu's DescribeConfigs leaves defaults out,
    which Quix Streams (and faust's table changelogs) would otherwise trip over."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1, topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"}) for n in names if n not in existing]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def preload(settings: Settings, records: Sequence[LogRecord], window: int = 20_000) -> float:
    """Publish the records to the intake topics as the relay would (same key, value, headers).
    Returns messages/s. Every message is acknowledged (acks=all) before this returns."""
    await kafka.ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=False, linger_ms=20, max_batch_size=1024 * 1024,
        request_timeout_ms=60_000,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        prefix = settings.topic_prefix
        for i in range(0, len(records), window):
            futures = [await producer.send(prefix + r.topic, value=r.value, key=r.key.encode(), headers=headers_for(r)) for r in records[i : i + window]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records) / (time.perf_counter() - started)


# ---------------------------------------------------------------------------- processes
def rss_bytes(pid: int | str = "self") -> tuple[int, int]:
    """(current RSS, peak RSS) of a process, from /proc (bytes)."""
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key] = int(amount) * 1024
    return values.get("VmRSS:", 0), values.get("VmHWM:", 0)


def pymalloc_bytes() -> tuple[int, int] | None:
    """(bytes in pymalloc's arenas, bytes of them in live objects), from sys._debugmallocstats (written to
    the C stderr, so read through a pipe); None under PYTHONMALLOC=malloc. The difference is free space
    pymalloc keeps: an arena (1 MiB) goes back to the OS only when no object is left in it."""
    read, write = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(write, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    text = b"".join(chunks).decode()
    arenas = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
    in_use = re.search(r"# bytes in allocated blocks +=  *([\d,]+)", text)
    if not (arenas and in_use):
        return None
    return int(arenas.group(1)) * int(arenas.group(2)), int(in_use.group(1).replace(",", ""))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def live_heap_bytes() -> int | None:
    """Bytes the process's objects occupy, wherever they live: pymalloc's blocks in use (objects up to
    512 bytes) plus glibc's allocated bytes (larger ones, and mmapped chunks; pymalloc's arenas are
    mmapped apart, so not counted twice). Unlike RSS it falls when objects are freed inside arenas
    that stay mapped, so a difference of two readings is what was freed in between. None if unknown."""
    pymalloc = pymalloc_bytes()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return None
    return (pymalloc[1] if pymalloc else 0) + info.uordblks + info.hblkhd


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def start_process(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    return subprocess.Popen(args, env=env or {**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL: only this process (and the session it leads), never by name."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_worker(kind: str, config: dict, workdir: Path, timeout: float) -> dict:
    """Run `python -m bench.workers <kind>` in its own process and return the JSON it writes.

    Each contender gets a fresh interpreter: no state, garbage or RSS left by the others
    (nor by the 1M generated records this process holds)."""
    out = workdir / f"{kind}-{uuid.uuid4().hex[:6]}.json"
    log = workdir / f"{kind}.log"
    proc = start_process([PYTHON, "-m", "bench.workers", kind, json.dumps(config), str(out)], log=log)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if out.exists():
                break
            if proc.poll() is not None:
                time.sleep(0.2)
                break
            time.sleep(0.1)
    finally:
        stop_process(proc)
    if out.exists():
        return json.loads(out.read_text())
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    return {"error": f"{kind} worker produced no result within {timeout:.0f}s (exit {proc.returncode})", "log_tail": tail}


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="signpost-bench-"))
