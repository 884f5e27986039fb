"""The pages' one periodic job: deleting sessions idle past the timeout."""

from __future__ import annotations

import asyncio
import logging

from services.common import db
from services.web.session import SessionStore

log = logging.getLogger(__name__)
PURGE_EVERY_S = 300.0  # sessions idle past the timeout are deleted this often (a stale row is refused on read anyway)


async def purge_sessions(sessions: SessionStore) -> None:
    while True:
        await asyncio.sleep(min(PURGE_EVERY_S, sessions.idle))
        try:
            await asyncio.to_thread(sessions.purge)
        except db.UNAVAILABLE as exc:  # the database is down: sessions are refused on read meanwhile, the next run catches up
            log.warning("session purge failed", extra={"error": type(exc).__name__})
