"""Webhook delivery: signed, retried with backoff, dead-lettered after the receiver's max attempts.

Each delivery has an idempotency key (referral id + version): a receiver that sees a key
twice must ignore the second, so a retry after a lost response is never a second referral.

Two replicas may run the sender: each claims its deliveries (PostgreSQL: `FOR UPDATE SKIP
LOCKED` plus a lease in `claimed_until`, so a claim outlives its transaction and a replica that
died mid-delivery leaves them to another after the lease). SQLite: one process (its writers
queue in-process; a second process would need the same file).

Signed per the Standard Webhooks specification (the `standardwebhooks` package): `webhook-id`
(the idempotency key), `webhook-timestamp` (seconds) and `webhook-signature` (`v1,` + base64
HMAC-SHA256 of `id.timestamp.body` under the receiver's `whsec_` secret). Any Standard Webhooks
library verifies it; receivers should refuse stale timestamps (the libraries allow 5 minutes).
A receiver without a secret, or with a plain-http URL that is not loopback, stops the service at
start-up (policy.check_secrets, policy parsing): a referral never leaves unsigned or unencrypted.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import Engine, or_, select, update

from services.common import db
from services.referrals import tables as t
from services.referrals.metrics import DELIVERIES
from services.referrals.policy import Policy

log = logging.getLogger(__name__)


def signed_headers(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for one delivery attempt."""
    from standardwebhooks import Webhook as StandardWebhook

    signature = StandardWebhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential with full jitter (seconds before the next attempt)."""
    return random.uniform(0, min(cap, base * 2 ** attempts))


@dataclass
class Attempt:
    key: str
    agency: str
    outcome: str  # delivered | retry | dead


class WebhookSender:
    def __init__(self, engine: Engine, policy: Callable[[], Policy], render: Callable[[str, str], bytes], base_backoff: float = 1.0,
                 timeout: float = 10.0) -> None:
        self.engine, self.policy, self.render = engine, policy, render  # render(referral_id, agency) -> JSON bytes
        self.base_backoff, self.timeout = base_backoff, timeout

    def due(self, now: datetime, limit: int = 100, lease: timedelta = timedelta(seconds=60)) -> list[dict]:
        """Claim the deliveries due now (not claimed by another replica, or its lease ran out)."""
        d = t.deliveries.c
        with db.write(self.engine) as conn:
            rows = [r._asdict() for r in conn.execute(
                select(t.deliveries).where(d.status == "pending", d.next_attempt_at <= now, or_(d.claimed_until.is_(None), d.claimed_until < now))
                .order_by(d.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            )]
            if rows:
                conn.execute(update(t.deliveries).where(d.key.in_([r["key"] for r in rows])).values(claimed_until=now + lease))
            return rows

    async def run_once(self, client: httpx.AsyncClient, now: datetime | None = None) -> list[Attempt]:
        import asyncio

        now = now or datetime.now(timezone.utc)
        policy: Policy = self.policy()
        attempts: list[Attempt] = []
        for row in await asyncio.to_thread(self.due, now):
            receiver = policy.receivers.get(row["receiver"])
            if receiver is None or receiver.webhook is None:
                await asyncio.to_thread(self._finish, row["key"], "dead", row["attempts"], "receiver has no webhook any more", now)
                attempts.append(Attempt(row["key"], row["agency"], "dead"))
                continue
            hook = receiver.webhook
            body = await asyncio.to_thread(self.render, row["referral_id"], row["agency"])
            secret = os.environ.get(hook.secret_env or "", "")
            if not secret:  # checked at start-up and on reload; the environment changed under us
                await asyncio.to_thread(self._retry, row["key"], row["attempts"], "no signing secret", now + timedelta(seconds=backoff(row["attempts"] + 1, self.base_backoff)))
                attempts.append(Attempt(row["key"], row["agency"], "retry"))
                continue
            headers = {"Content-Type": "application/json", "Idempotency-Key": row["key"], "X-Signpost-Delivery": row["key"],
                       **signed_headers(secret, row["key"], datetime.fromtimestamp(time.time(), timezone.utc), body)}
            error = None
            try:
                response = await client.post(hook.url, content=body, headers=headers, timeout=self.timeout)
                if 200 <= response.status_code < 300:
                    await asyncio.to_thread(self._finish, row["key"], "delivered", row["attempts"] + 1, None, now)
                    DELIVERIES.labels(row["agency"], "delivered").inc()
                    attempts.append(Attempt(row["key"], row["agency"], "delivered"))
                    continue
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            tried = row["attempts"] + 1
            if tried >= hook.max_attempts:
                await asyncio.to_thread(self._finish, row["key"], "dead", tried, error, now)
                DELIVERIES.labels(row["agency"], "dead").inc()
                log.warning("webhook delivery dead-lettered", extra={"delivery": row["key"], "agency": row["agency"], "attempts": tried, "error": error})
                attempts.append(Attempt(row["key"], row["agency"], "dead"))
            else:
                await asyncio.to_thread(self._retry, row["key"], tried, error, now + timedelta(seconds=backoff(tried, self.base_backoff)))
                DELIVERIES.labels(row["agency"], "retry").inc()
                attempts.append(Attempt(row["key"], row["agency"], "retry"))
        return attempts

    def _finish(self, key: str, status: str, attempts: int, error: str | None, now: datetime) -> None:
        with db.write(self.engine) as conn:
            conn.execute(update(t.deliveries).where(t.deliveries.c.key == key).values(status=status, attempts=attempts, last_error=error, next_attempt_at=now, claimed_until=None))

    def _retry(self, key: str, attempts: int, error: str | None, when: datetime) -> None:
        with db.write(self.engine) as conn:
            conn.execute(update(t.deliveries).where(t.deliveries.c.key == key).values(attempts=attempts, last_error=error, next_attempt_at=when, claimed_until=None))
