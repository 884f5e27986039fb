"""A service's readiness checks (GET /readyz answers 503 with the first one that is not ready)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import Engine

from services.common import db

ReadinessCheck = Callable[[], Awaitable[str | None]]  # returns None when ready, else why not


def store_check(engine: Engine) -> ReadinessCheck:
    async def store_ready() -> str | None:
        try:
            await asyncio.to_thread(db.ping, engine)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class of it says why
            return f"store unavailable ({type(exc).__name__})"
        return None

    return store_ready


class BrokerLink(Protocol):
    """What reaches the broker for a service (services/common/relay.Relay)."""

    broker_ok: bool
    last_error: str | None


def broker_check(link: BrokerLink, what: str) -> ReadinessCheck:
    """Not ready while `link` cannot reach the broker: "<what>broker unavailable (<why>)"."""

    async def broker_ready() -> str | None:
        return None if link.broker_ok else f"{what}broker unavailable ({link.last_error or 'connecting'})"

    return broker_ready
