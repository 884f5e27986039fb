"""Leadership: one replica of a service runs a singleton job (a relay, a timer) at a time.

PostgreSQL: the leader holds a session-level advisory lock on a connection of its own. The lock
lives exactly as long as that session: if the process dies or the connection drops, PostgreSQL
releases it and another replica takes over. A leader that finds its connection gone stops until
it holds the lock again.

SQLite: one process per database file (the file is local to one machine and `db.write` only
queues the writers of one process), so that process is always the leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from services.common.outbox import lock_id

log = logging.getLogger(__name__)
_KEEPALIVE = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


class Leadership:
    """`holds()` takes the lock, or confirms it is still held. Blocking: call it from a thread."""

    def __init__(self, engine: Engine | None, name: str) -> None:
        self.name = name
        self.lock = lock_id(name)
        self.shared = engine is not None and engine.dialect.name == "postgresql"
        # NullPool: closing the connection ends the session, so the lock can't outlive it in a pool.
        # Keepalives: a peer that vanished is noticed in seconds, not after the kernel's two hours.
        self._engine = (
            create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=_KEEPALIVE, hide_parameters=True)
            if self.shared and engine is not None
            else None
        )
        self._conn: Connection | None = None

    def holds(self) -> bool:
        if self._engine is None:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # noqa: BLE001 - the session (and the lock with it) is gone
                log.warning("leadership lost: its connection failed", extra={"lock": self.name, "error": type(exc).__name__})
                self._drop()
                return False
        conn = self._engine.connect()
        try:
            took = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self.lock}).scalar())
        except BaseException:
            conn.close()
            raise
        if not took:
            conn.close()
            return False
        self._conn = conn
        log.info("leadership taken", extra={"lock": self.name})
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock})
        except Exception:  # noqa: BLE001 - closing the session below releases it anyway
            pass
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close; it is discarded
                pass

    def dispose(self) -> None:
        self.release()
        if self._engine is not None:
            self._engine.dispose()
