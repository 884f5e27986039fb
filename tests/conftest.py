"""Fixtures shared by the whole suite: a real broker, settings, PostgreSQL, tokens, payloads, clients.

Integration tests always run: with a Docker engine they get Apache Kafka (testcontainers,
KRaft); without one, the embedded Tansu broker that `make run` uses. Each test gets its
own topic prefix, so one session broker serves every test without cross-talk.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import factories
import httpx
import pytest
import pytest_asyncio
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import pseudonym
from services.common.auth import TokenRegistry, parse_tokens
from services.common.broker import EmbeddedBroker, wait_for_kafka
from services.common.settings import Settings

# One pseudonym key for the test process and every app it builds (build_settings passes it): a
# test computes the Kafka keys and child ids the services do.
TEST_PSEUDONYM_KEY = "signpost-tests-only-pseudonym-key-0123456789"
pseudonym.configure(TEST_PSEUDONYM_KEY.encode())

# --------------------------------------------------------------------------- tools the suite drives for real


def ensure_tool(binary: str, apt_package: str) -> str:
    """The tool's path; installs its Debian package (as root) when it is missing. Never skips."""
    def find() -> str | None:
        return shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None)

    if found := find():
        return found
    if os.geteuid() != 0:
        pytest.fail(f"{binary} is missing and this is not root: apt-get install -y {apt_package}", pytrace=False)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", apt_package]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    if not (found := find()):
        pytest.fail(f"could not install {apt_package} for {binary}: {done.stdout[-2000:]} {done.stderr[-2000:]}", pytrace=False)
    return found


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (bound then released)."""
    return free_port()


# --------------------------------------------------------------------------- broker


@dataclass
class KafkaEndpoint:
    """The session's broker. `broker` is the EmbeddedBroker handle (None for a container)."""

    bootstrap: str
    kind: str  # "kafka" | "embedded"
    broker: EmbeddedBroker | None = None
    container: Any = None

    def kill(self) -> None:
        """SIGKILL the embedded broker, as a crash would (its memory storage is lost)."""
        if self.broker is None:
            raise RuntimeError("only the embedded broker can be killed by a test")
        self.broker.kill()

    async def restart(self) -> None:
        """Start the embedded broker again on the same port (empty) and wait until it answers."""
        if self.broker is None:
            raise RuntimeError("only the embedded broker can be restarted by a test")
        self.broker.kill()
        self.broker.start()
        await wait_for_kafka(self.bootstrap, timeout=30)

    # a (bootstrap, kind) tuple also works
    def __iter__(self):  # noqa: ANN204
        return iter((self.bootstrap, self.kind))


def docker_available(timeout: float = 5.0) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


KAFKA_IMAGE = "apache/kafka:3.9.1@sha256:4ceccc577f03f51f6af8dbfda55194d0d892f4fa7913ffbded567ce3895622ed"  # the image docker-compose.yml runs (tests/deploy/test_deploy.py checks they agree)


def _start_kafka_container() -> tuple[Any, str]:
    """Apache Kafka in KRaft mode, one node, as compose runs it. testcontainers' KafkaContainer
    drives Confluent's images only, so this is a generic container with the broker's settings."""
    from testcontainers.core.container import DockerContainer

    port = free_port()
    env = {
        "KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker,controller", "CLUSTER_ID": "5L6g3nShT-eMCtK--X86sw",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093", "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0", "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in env.items():
        container = container.with_env(key, value)
    container.start()
    return container, f"localhost:{port}"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap() -> AsyncIterator[KafkaEndpoint]:
    if docker_available():
        container, bootstrap = await asyncio.to_thread(_start_kafka_container)
        endpoint = KafkaEndpoint(bootstrap, "kafka", container=container)
        try:
            await wait_for_kafka(endpoint.bootstrap, timeout=120)
            yield endpoint
        finally:
            await asyncio.to_thread(container.stop)
        return
    broker = EmbeddedBroker(free_port())
    await asyncio.to_thread(broker.start)
    endpoint = KafkaEndpoint(broker.bootstrap, "embedded", broker=broker)
    try:
        await wait_for_kafka(endpoint.bootstrap, timeout=30)
        yield endpoint
    finally:
        broker.stop()


# --------------------------------------------------------------------------- settings


def build_settings(kafka: KafkaEndpoint | None, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own topic prefix, data dir and ports; never read from os.environ."""
    values: dict[str, Any] = {
        "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
        "data_dir": data_dir,
        "broker_port": free_port(),
        "intake_port": free_port(),
        "alerts_port": free_port(),
        "referrals_port": free_port(),
        "database_url": None,
        "tokens_file": None,
        "log_level": "WARNING",
        "pseudonym_key": TEST_PSEUDONYM_KEY,
    }
    if kafka is not None:
        values["kafka_bootstrap_servers"] = kafka.bootstrap
        values["broker_kind"] = kafka.kind
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_factory(kafka_bootstrap: KafkaEndpoint, tmp_path: Path) -> Callable[..., Settings]:
    """settings_factory(**overrides) → Settings on the session broker with a fresh topic prefix."""

    def make(**overrides: Any) -> Settings:
        return build_settings(kafka_bootstrap, overrides.pop("data_dir", tmp_path), **overrides)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


# --------------------------------------------------------------------------- PostgreSQL

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
PG_USERS = ("root", "postgres")


def _pg_connect():  # noqa: ANN202 - a psycopg connection
    import psycopg

    errors = []
    for user in PG_USERS:
        try:
            conn = psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, autocommit=True, connect_timeout=5
            )
            return conn, user
        except psycopg.Error as exc:
            errors.append(f"{user}: {exc}".strip())
    pytest.fail(
        f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}/{PG_DB} as any of {', '.join(PG_USERS)} "
        f"(trust auth expected; CI provides it). Errors: {' | '.join(errors)}",
        pytrace=False,
    )


def pg_url_for(user: str, schema: str) -> str:
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}?options=-csearch_path%3D{schema}"


@dataclass
class _PgServer:
    conn: Any
    user: str
    schemas: list[str] = field(default_factory=list)

    def create_schema(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        self.conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema

    def drop_schema(self, schema: str) -> None:
        self.conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _pg_server() -> Iterable[_PgServer]:
    conn, user = _pg_connect()
    try:
        yield _PgServer(conn, user)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_url(_pg_server: _PgServer) -> Iterable[str]:
    """A PostgreSQL URL whose search_path is a schema made for this test session (dropped at the end)."""
    schema = _pg_server.create_schema()
    try:
        yield pg_url_for(_pg_server.user, schema)
    finally:
        _pg_server.drop_schema(schema)


@pytest.fixture
def pg_schema_url(_pg_server: _PgServer) -> Iterable[str]:
    """A PostgreSQL URL with a schema of this test's own (dropped after it)."""
    schema = _pg_server.create_schema()
    try:
        yield pg_url_for(_pg_server.user, schema)
    finally:
        _pg_server.drop_schema(schema)


# --------------------------------------------------------------------------- tokens

TOKEN_ROLES: dict[str, dict] = {
    "intake": {"roles": ["intake"]},
    "inclusion_team": {"roles": ["inclusion_team"]},
    "admin": {"roles": ["admin"]},
    "ops": {"roles": ["ops"]},
    "ias": {"roles": ["agency"], "agency": "ias"},
    "exclusions_officer": {"roles": ["agency"], "agency": "exclusions_officer"},
    "reu": {"roles": ["agency"], "agency": "reu"},
    "nas": {"roles": ["agency"], "agency": "nas"},
    "intake_305": {"roles": ["intake"], "la_codes": [305]},
}


class TestTokens(TokenRegistry):
    """A TokenRegistry (pass it to build_app) that also knows each role's bearer token."""

    __test__ = False  # not a test class

    def __init__(self, bearer: dict[str, str], yaml_text: str):
        super().__init__(None, parse_tokens(yaml_text, "test tokens"))
        self.bearer = bearer
        self.yaml_text = yaml_text

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer[role]}"}


def make_tokens() -> TestTokens:
    bearer = {role: f"test-{role}-{uuid.uuid4().hex}" for role in TOKEN_ROLES}
    entries = [
        {"token": bearer[role], "principal": f"test-{role}", **spec} for role, spec in TOKEN_ROLES.items()
    ]
    return TestTokens(bearer, yaml.safe_dump({"tokens": entries}, sort_keys=False))


@pytest.fixture(scope="session")
def tokens() -> TestTokens:
    """TokenRegistry with one token per role; `.bearer[role]` is the token, `.headers(role)` the header."""
    return make_tokens()


@pytest.fixture(scope="session")
def bearer(tokens: TestTokens) -> dict[str, str]:
    """role name → bearer token string."""
    return tokens.bearer


# --------------------------------------------------------------------------- payloads


@pytest.fixture
def make_notice() -> Callable[..., dict]:
    return factories.make_notice


@pytest.fixture
def make_call() -> Callable[..., dict]:
    return factories.make_call


@pytest.fixture
def make_return() -> Callable[..., dict]:
    return factories.make_return


@pytest.fixture
def make_record() -> Callable[..., dict]:
    return factories.make_record


# --------------------------------------------------------------------------- ASGI apps


@asynccontextmanager
async def serve_app(
    app: Any, *, base_url: str = "http://testserver", timeout: float = 30.0
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (httpx.ASGITransport does not) and give a client talking to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=timeout) as client:
            yield client


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30.0) -> None:
    """Poll /readyz until 200 (the relay is connected to the broker and the store answers)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await client.get("/readyz")
        if last.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"not ready after {timeout}s: {last.status_code if last else None} {last.text if last else ''}"
    )


@asynccontextmanager
async def running_app(
    app: Any, *, ready: bool = True, timeout: float = 30.0
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(app) as client:
        if ready:
            await wait_ready(client, timeout)
        yield client


@pytest.fixture
def app_client() -> Callable[..., Any]:
    """app_client(app, ready=True) → async context manager yielding an httpx.AsyncClient (lifespan running)."""
    return running_app


async def wait_relayed(app: Any, timeout: float = 15.0) -> None:
    """Wait until the intake relay has published every row of its event log."""
    eventlog, relay = app.state.intake.eventlog, app.state.intake.relay
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(eventlog.last_seq)
        if relay.broker_ok and relay.position >= last:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(
        f"the relay is at {relay.position}, the log at {await asyncio.to_thread(eventlog.last_seq)}"
    )


# --------------------------------------------------------------------------- Kafka reads


@dataclass(frozen=True)
class Consumed:
    topic: str
    key: str | None
    value: bytes
    headers: dict[str, str]
    partition: int = 0
    offset: int = 0

    def json(self) -> Any:
        return json.loads(self.value)


def _consumed(tp: TopicPartition, m: Any) -> Consumed:
    key = m.key.decode() if m.key is not None else None
    return Consumed(
        tp.topic, key, m.value, {k: v.decode() for k, v in (m.headers or ())}, tp.partition, m.offset
    )


def _full_topic(settings: Settings, topic: str) -> str:
    return topic if topic.startswith(settings.topic_prefix) else settings.topic(topic)


async def _assigned_consumer(
    settings: Settings, topics: list[str], timeout: float, missing_ok: bool = False
) -> AIOKafkaConsumer:
    """A group-less consumer assigned every partition of `topics`, at the beginning.

    A topic that does not show up within `timeout` fails the test, or with missing_ok is left out."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        request_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: list[TopicPartition] = []
        for name in topics:
            while True:
                ids = consumer.partitions_for_topic(name)
                if ids:
                    break
                if time.monotonic() > deadline:
                    if missing_ok:
                        break
                    raise AssertionError(f"topic {name} does not exist on the broker")
                await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh in aiokafka
                ids = consumer.partitions_for_topic(name)
                if ids:
                    break
                await asyncio.sleep(0.1)
            partitions += [TopicPartition(name, p) for p in sorted(ids or ())]
        consumer.assign(partitions)
        if partitions:
            await consumer.seek_to_beginning(*partitions)
        return consumer
    except BaseException:
        await consumer.stop()
        raise


async def consume_all(
    settings: Settings, topics: str | Iterable[str], expected: int, timeout: float = 10.0
) -> list[Consumed]:
    """Read `topics` (logical names or prefixed) from the beginning until `expected` records or `timeout`.

    Returns what arrived (possibly more or fewer than expected: the caller asserts).
    """
    names = [_full_topic(settings, t) for t in ([topics] if isinstance(topics, str) else topics)]
    deadline = time.monotonic() + timeout
    consumer = await _assigned_consumer(settings, names, timeout)
    out: list[Consumed] = []
    try:
        while len(out) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000))
            for tp, messages in batches.items():
                for m in messages:
                    out.append(_consumed(tp, m))
    finally:
        await consumer.stop()
    return out


async def count_messages(settings: Settings, topic: str, settle: float = 0.3, timeout: float = 10.0) -> int:
    """How many messages a topic holds: read from the start until nothing new comes for `settle` s.

    Not end offsets: Tansu reports a partition's end offset as its last batch's base offset + 1,
    which under-counts multi-record batches. Reading the records is exact on every broker.
    """
    return len(await read_topic(settings, topic, settle=settle, timeout=timeout))


async def read_topic(
    settings: Settings, topics: str | Iterable[str], settle: float = 0.3, timeout: float = 10.0
) -> list[Consumed]:
    """Every record of `topics` from the beginning, stopping once nothing new came for `settle` s."""
    names = [_full_topic(settings, t) for t in ([topics] if isinstance(topics, str) else topics)]
    consumer = await _assigned_consumer(settings, names, min(timeout, 2.0), missing_ok=True)
    out: list[Consumed] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while (
            consumer.assignment() and time.monotonic() < deadline and time.monotonic() - quiet_since < settle
        ):
            batches = await consumer.getmany(timeout_ms=50)
            for tp, messages in batches.items():
                for m in messages:
                    out.append(_consumed(tp, m))
                if messages:
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return out


@pytest.fixture
def consume() -> Callable[..., Any]:
    """consume(settings, topics, expected, timeout) → list[Consumed] (see consume_all)."""
    return consume_all
