"""Consumer generations, as the alerts and referrals services keep them.

A service's stages commit their offsets in consumer groups named by a generation, kept in its store
(meta `consumer_generation`; none yet: "1"). A rebuild replays the topics from the start in the
next generation's groups, offline while the service does not answer (or, for the alerts service,
inside it), then switches the service to that generation.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.common.broker import port_open

KEY = "consumer_generation"


class MetaStore(Protocol):
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


class ServiceRunning(RuntimeError):
    """An offline rebuild refused: the service answers (stop it first)."""


def refuse_while_answering(host: str, service: str, port: int) -> None:
    if port_open(host, port):
        raise ServiceRunning(f"the {service} service answers on port {port}: stop it first")


async def current(store: MetaStore) -> str:
    """The generation the service's stages consume in."""
    return await asyncio.to_thread(store.meta, KEY) or "1"


async def following(store: MetaStore) -> str:
    """The generation a rebuild replays in: the current one's next."""
    return str(int(await current(store)) + 1)


async def switch(store: MetaStore, generation: str) -> None:
    """After a rebuild: the service's stages consume in `generation` from now on."""
    await asyncio.to_thread(store.set_meta, KEY, generation)
