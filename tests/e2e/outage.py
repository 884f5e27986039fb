"""Store outages for end-to-end tests: a SQLite file held under an exclusive lock, and a TCP proxy in
front of PostgreSQL that refuses connections (and drops the open ones) for a while."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from tests.e2e.system import free_port


class LockedFile(threading.Thread):
    """Holds `BEGIN EXCLUSIVE` on a SQLite file for `seconds` (another process, as an admin's shell or a
    backup tool would): the services' writers wait their busy timeout, then get "database is locked"."""

    def __init__(self, path: Path, seconds: float):
        super().__init__(daemon=True)
        self.path, self.seconds = path, seconds
        self.held = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                self.held.set()
                time.sleep(self.seconds)
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc

    def finish(self) -> None:
        self.join()
        assert self.error is None, f"could not hold the lock on {self.path}: {self.error!r}"
        assert self.held.is_set()


class FlakyProxy:
    """Forwards 127.0.0.1:<port> to `target`; `outage(s)` closes the listening socket and every open
    connection, so for `s` seconds a client gets "connection refused", then listens again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.outages = 0

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def outage(self, seconds: float) -> None:
        """Blocks for the outage's length."""
        self._call(self._down())
        self.outages += 1
        time.sleep(seconds)
        self._call(self._listen())

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def _down(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()  # RST: the connection is gone, as when the server goes away
        self.transports.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.server is None:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self.server is None:  # went down while connecting upstream
            writer.transport.abort()
            up_writer.transport.abort()
            return
        pair = {writer.transport, up_writer.transport}
        self.transports |= pair
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self.transports -= pair


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


# 150 children x 4 suspensions of 24 sessions (48 days: nearing-limit and limit-exceeded alerts,
# referred to the REU and the exclusions officer); every 5th child has an EHC plan (IAS as well).
# Posted at a steady rate, so notices keep arriving all through the outage.
CHILDREN = 150
