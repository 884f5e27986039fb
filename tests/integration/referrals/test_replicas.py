"""Two referrals replicas on one PostgreSQL: a webhook delivery is claimed by one of them (FOR UPDATE
SKIP LOCKED, then a lease), an overdue referral is escalated once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from services.common.calendar import load_registry
from services.common.db import make_engine, migrate
from services.referrals import tables
from services.referrals.desk import ReferralDesk
from services.referrals.policy import load_policy
from services.referrals.store import ReferralStore
from services.referrals.webhooks import WebhookSender

from .builders import NON_SEND, NOW, alert, profile, referrals_of

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def engines(pg_schema_url):  # noqa: ANN001, ANN201
    one, two = make_engine(pg_schema_url), make_engine(pg_schema_url)
    migrate(one, tables.metadata)
    yield one, two
    one.dispose()
    two.dispose()


def deliveries(engine, keys: list[str], now: datetime) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(insert(tables.deliveries), [{"key": k, "referral_id": k.split(":")[0], "agency": "ias", "receiver": "ias", "status": "pending",
                                                  "attempts": 0, "next_attempt_at": now, "created_at": now} for k in keys])


def sender(engine) -> WebhookSender:  # noqa: ANN001
    return WebhookSender(engine, load_policy, lambda ref_id, agency: b"{}")


def test_a_delivery_is_claimed_by_one_replica_until_its_lease_runs_out(engines):
    one, two = engines
    now = datetime.now(UTC)
    deliveries(one, ["ref_a:v1", "ref_b:v1"], now)
    claimed = sender(one).due(now)
    assert sorted(r["key"] for r in claimed) == ["ref_a:v1", "ref_b:v1"]
    assert sender(two).due(now) == [], "claimed by the first replica"
    assert sender(two).due(now + timedelta(seconds=30)) == [], "the lease holds"
    later = sender(two).due(now + timedelta(seconds=61))  # the first replica died mid-delivery: the lease ran out
    assert sorted(r["key"] for r in later) == ["ref_a:v1", "ref_b:v1"]


def test_rows_locked_by_a_replica_are_skipped_not_waited_for(engines):
    one, two = engines
    now = datetime.now(UTC)
    deliveries(one, ["ref_c:v1", "ref_d:v1"], now)
    with ThreadPoolExecutor(1) as pool, one.connect() as conn, conn.begin():  # the lock goes before the pool waits
        conn.execute(select(tables.deliveries).where(tables.deliveries.c.key == "ref_c:v1").with_for_update())
        # does not wait for ref_c (SKIP LOCKED): a claim that blocked would time out here and fail
        claimed = pool.submit(sender(two).due, now).result(timeout=10)
    assert [r["key"] for r in claimed] == ["ref_d:v1"]


def test_an_overdue_referral_is_escalated_once_by_two_replicas(engines):
    one, two = engines
    kid = profile(**NON_SEND)
    ReferralDesk(one, load_policy, load_registry()).handle([alert(kid, "informal_exclusions_repeated")], NOW)
    (ref,) = referrals_of(one, kid["child_id"])["exclusions_officer"]
    late = date(2025, 3, 20)
    assert [r["id"] for r in ReferralStore(two).overdue_unescalated(late)] == [ref.row["id"]]
    results = [ReferralStore(e).escalate(ref.row["id"], NOW + timedelta(days=14)) for e in (one, two)]
    assert results == [True, False]
    escalated = ReferralStore(one).get(ref.row["id"])
    assert [h["action"] for h in escalated.history] == ["created", "escalated"]
    assert escalated.row["version"] == 2
