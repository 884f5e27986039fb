"""Kafka adapters: producer and consumer settings, topic creation, offsets.

Works with Apache Kafka and with the embedded Tansu broker of `make run`. Tansu has no
idempotent producer (InitProducerId fails), so idempotence is a setting that is on for
Apache Kafka only; consumers de-duplicate by event id either way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
from collections.abc import Sequence
from functools import lru_cache

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.producer.message_accumulator import BatchBuilder

from schemas.topics import ALL_TOPICS, BROKER_EPOCH, DEAD_LETTERS, INTAKE_TOPICS
from services.common import collector
from services.common.settings import Settings

log = logging.getLogger(__name__)

FOREVER = "-1"
THIRTY_DAYS_MS = str(30 * 24 * 3600 * 1000)


def security_options(settings: Settings) -> dict:
    """TLS and SASL for every client (producer, consumer, admin): from the settings, so that one
    environment reaches a managed Kafka. Every aiokafka client in the services is made here."""
    protocol = settings.kafka_security_protocol
    options: dict = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    if protocol.startswith("SASL"):
        assert settings.kafka_sasl_password is not None  # Settings checks SASL is complete
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    return options


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str | None):  # noqa: ANN202 - an ssl.SSLContext
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(cafile=cafile)


def faust_credentials(settings: Settings):  # noqa: ANN201 - faust's CredentialsT or None
    """The same security for faust's own clients (`broker_credentials`)."""
    import faust

    protocol = settings.kafka_security_protocol
    context = _ssl_context(str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None) if protocol.endswith("SSL") else None
    if protocol.startswith("SASL"):
        assert settings.kafka_sasl_password is not None
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password.get_secret_value(),
                                     ssl_context=context, mechanism=settings.kafka_sasl_mechanism)
    return faust.SSLCredentials(context) if context is not None else None


def kafka_python_security(settings: Settings) -> dict:
    """The same TLS and SASL for the exporter's kafka-python clients (their own option names)."""
    protocol = settings.kafka_security_protocol
    options: dict = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile:
        options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    if protocol.startswith("SASL"):
        assert settings.kafka_sasl_password is not None
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    return options


def admin_client(settings: Settings, **overrides: object) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**{"bootstrap_servers": settings.bootstrap_servers, "request_timeout_ms": 5000, **security_options(settings), **overrides})


def producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    options: dict = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.idempotence,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
        "client_id": "signpost",
        **security_options(settings),
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def send_batched(producer: AIOKafkaProducer, messages: Sequence[tuple[str, bytes | None, bytes, list]]) -> list[tuple[str, int, int]]:
    """Produce (topic, key, value, headers) messages as whole batches per partition and wait for every
    acknowledgement; returns each message's (topic, partition, offset), in order.

    `producer.send` makes a future and a task per message, which cost the relays and the child
    stage more CPU than their own work; a batch has one. Keys go to the partition the default
    partitioner would choose, so these messages land where `send` would put them. Batches of one
    partition are queued in order, so the messages of a key stay in order."""
    return await (await queue_batched(producer, messages))


async def queue_batched(producer: AIOKafkaProducer, messages: Sequence[tuple[str, bytes | None, bytes, list]]) -> asyncio.Future[list[tuple[str, int, int]]]:
    """`send_batched` in two steps: queue every batch in the producer now, and return the future of
    their acknowledgements. Whatever is queued after it goes to each partition after it."""
    partitions: dict[str, tuple[int, ...]] = {}
    for topic in {m[0] for m in messages}:
        partitions[topic] = tuple(sorted(await producer.partitions_for(topic)))
    with collector.paused():  # services/common/collector.py says why; no await while paused
        built = _build_batches(producer, messages, partitions)
    sent: list[tuple[asyncio.Future, list[int]]] = []
    for topic, partition, batch, members in built:
        sent.append((await producer.send_batch(batch, topic, partition=partition), members))

    async def acknowledged() -> list[tuple[str, int, int]]:
        out: list[tuple[str, int, int]] = [("", 0, 0)] * len(messages)
        for meta, members in zip(await asyncio.gather(*(future for future, _ in sent)), (m for _, m in sent), strict=True):
            for n, i in enumerate(members):
                out[i] = (meta.topic, meta.partition, meta.offset + n)
        return out

    return asyncio.ensure_future(acknowledged())


def _build_batches(producer: AIOKafkaProducer, messages: Sequence[tuple[str, bytes | None, bytes, list]],
                   partitions: dict[str, tuple[int, ...]]) -> list[tuple[str, int, BatchBuilder, list[int]]]:
    """The messages in batches per partition, in order: (topic, partition, batch, the batch's message indexes)."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    keyed = {(topic, key): _partition_of(key, partitions[topic]) for topic, key in {(m[0], m[1]) for m in messages} if key is not None}
    for i, (topic, key, _value, _headers) in enumerate(messages):
        tp = (topic, keyed[topic, key]) if key is not None else (topic, partitions[topic][i % len(partitions[topic])])
        by_tp.setdefault(tp, []).append(i)
    built: list[tuple[str, int, BatchBuilder, list[int]]] = []
    for (topic, partition), indexes in by_tp.items():
        batch = producer.create_batch()
        members: list[int] = []
        for i in indexes:
            _, key, value, headers = messages[i]
            if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:  # full: start another
                built.append((topic, partition, batch, members))
                batch, members = producer.create_batch(), []
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    raise ValueError("a message is larger than the producer's max_batch_size")
            members.append(i)
        built.append((topic, partition, batch, members))
    return built


@lru_cache(maxsize=262_144)  # keys repeat (one per child); murmur2 is pure Python
def _partition_of(key: bytes, partitions: tuple[int, ...]) -> int:
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the default partitioner's), as `aiokafka.partitioner.murmur2` computes it,
    a 4-byte word at a time: a relay meets each child's key once, an LA return 50,000 new ones."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[whole + 2] << 16
        if extra >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def consumer(settings: Settings, *topics: str, group_id: str | None, **overrides: object) -> AIOKafkaConsumer:
    options: dict = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 5000,
        "fetch_max_wait_ms": 50,
        "isolation_level": "read_uncommitted",
        "client_id": "signpost",
        **security_options(settings),
    }
    if settings.embedded:
        # Tansu answers a new member's JoinGroup after half the session timeout: keep it short.
        options.update(session_timeout_ms=6000, heartbeat_interval_ms=1000)
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    """retention.ms from the retention schedule (docs/data-protection.md): each topic keeps its
    records as long as the store of the same record type. The broker epoch holds no personal data."""
    # Explicit configs: Tansu's DescribeConfigs leaves defaults out, which trips some clients.
    from services.common.retention import Schedule

    schedule = Schedule.of(settings)
    specs = {settings.topic(t.name): t for t in ALL_TOPICS}
    if name.endswith(DEAD_LETTERS):
        retention = schedule.topic_retention_ms("dead_letters")
    elif name in specs:
        retention = schedule.topic_retention_ms(specs[name].retention)
    else:
        retention = FOREVER
    return {"retention.ms": retention, "cleanup.policy": "delete"}


def topic_partitions(settings: Settings, name: str) -> int:
    """The broker epoch is one record on one partition; every other topic has the configured count."""
    return 1 if name == settings.topic(BROKER_EPOCH) else settings.kafka_partitions


def all_topic_names(settings: Settings) -> list[str]:
    return [settings.topic(t.name) for t in ALL_TOPICS] + [settings.topic(DEAD_LETTERS), settings.topic(BROKER_EPOCH)]


def intake_topic_names(settings: Settings) -> list[str]:
    return [settings.topic(t.name) for t in INTAKE_TOPICS]


async def ensure_topics(settings: Settings, names: list[str] | None = None, attempts: int = 60) -> None:
    """Create the topics that don't exist yet. Safe to call from every service at start-up."""
    names = names or all_topic_names(settings)
    for attempt in range(attempts):
        admin = admin_client(settings)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                new = [
                    NewTopic(n, topic_partitions(settings, n), settings.kafka_replication_factor, topic_configs=topic_configs(settings, n))
                    for n in missing
                ]
                try:
                    await admin.create_topics(new)
                except TopicAlreadyExistsError:
                    pass
                log.info("topics created", extra={"topics": missing})
            return
        except (KafkaError, OSError) as exc:
            if attempt == attempts - 1:
                raise
            log.info("broker not ready yet", extra={"error": type(exc).__name__})
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
