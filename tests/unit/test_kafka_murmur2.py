"""The relay's murmur2 puts every key where aiokafka's default partitioner (and Kafka's) would."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.kafka import murmur2


@settings(max_examples=2000)
@given(st.binary(max_size=80))
def test_murmur2_is_aiokafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_of_child_keys_is_aiokafkas() -> None:
    for n in range(10_000):
        key = f"u:{n:024x}".encode()
        assert murmur2(key) == aiokafka_murmur2(key)
