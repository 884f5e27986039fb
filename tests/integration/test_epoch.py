"""The broker epoch on the real broker: one value per broker lifetime, the same for every reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import BROKER_EPOCH
from services.common import kafka
from services.common.epoch import broker_epoch
from services.common.settings import Settings

pytestmark = pytest.mark.integration


@asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[tuple[AIOKafkaProducer, AIOKafkaConsumer]]:
    producer, probe = kafka.producer(settings), kafka.consumer(settings, group_id=None)
    await producer.start()
    await probe.start()
    try:
        yield producer, probe
    finally:
        await probe.stop()
        await producer.stop()


async def test_ensure_topics_creates_the_epoch_topic_with_one_partition(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([settings.topic(BROKER_EPOCH)])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 1
    assert kafka.topic_partitions(settings, settings.topic(BROKER_EPOCH)) == 1


async def test_concurrent_readers_of_an_empty_broker_agree_on_one_epoch(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    async with clients(settings) as (p1, c1), clients(settings) as (p2, c2), clients(settings) as (p3, c3):
        first = await asyncio.gather(broker_epoch(settings, p1, c1), broker_epoch(settings, p2, c2), broker_epoch(settings, p3, c3))
        assert len(set(first)) == 1, "whoever wrote first wins; every reader reads offset 0"
        assert await broker_epoch(settings, p1, c1) == first[0]  # stable: read, not written again


async def test_a_lost_epoch_topic_gives_a_new_epoch(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    await kafka.ensure_topics(settings)
    async with clients(settings) as (producer, probe):
        before = await broker_epoch(settings, producer, probe)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([settings.topic(BROKER_EPOCH)])
        finally:
            await admin.close()
        await kafka.ensure_topics(settings)
        after = await broker_epoch(settings, producer, probe)
    assert after != before
