"""WebhookSender against a real local HTTP receiver: signed, idempotent, retried, dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import build_settings
from prometheus_client import REGISTRY
from sqlalchemy import select
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

from services.common.db import migrate
from services.referrals import tables
from services.referrals.app import build_app
from services.referrals.desk import ReferralDesk
from services.referrals.policy import DEFAULT_POLICY_PATH
from services.referrals.webhooks import WebhookSender

from .builders import AUTISTIC, SEND, alert, call, profile

pytestmark = pytest.mark.integration

SECRET_ENV = "SIGNPOST_TEST_HOOK_SECRET"
SECRET = "whsec_" + "c2lnbnBvc3QtdGVzdHMtb25seS0zMi1ieXRlcy1rZXkh"  # base64 of 32 bytes, for tests only
OTHER_SECRET = "whsec_" + "YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtZm9yLXQh"
STEP = timedelta(seconds=301)  # past any backoff (capped at 300 s)


# --------------------------------------------------------------------------- a real receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = 0
    statuses: list[int] = field(default_factory=list)  # answered in order; then 200
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.statuses.pop(0) if state.statuses else 200
            payload = b'{"ok": true}' if status < 300 else b'{"error": "boom"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- the app's parts, no lifespan


@dataclass
class Hooks:
    app: object
    engine: object
    desk: ReferralDesk
    receiver: Receiver

    def sender(self, base_backoff: float = 1.0) -> WebhookSender:
        """A sender with the app's policy and its real renderer (the agency's projected view)."""
        return WebhookSender(
            self.engine,
            lambda: self.app.state.referrals.policy.policy,
            self.app.state.referrals.handlers.render,
            base_backoff=base_backoff,
        )

    def deliveries(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [
                r._asdict() for r in conn.execute(select(tables.deliveries).order_by(tables.deliveries.c.key))
            ]

    def ref_id(self, child_id: str, agency: str) -> str:
        with self.engine.connect() as conn:
            r = tables.referrals.c
            return conn.execute(select(r.id).where(r.child_id == child_id, r.agency == agency)).scalar_one()


def policy_with_webhooks(path: Path, url: str) -> Path:
    doc = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    for receiver in doc["receivers"]:
        if receiver["agency"] in ("ias", "nas"):
            receiver["webhook"] = {"url": url, "secret_env": SECRET_ENV, "max_attempts": 3}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def hooks(tmp_path, receiver, monkeypatch) -> Iterator[Hooks]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    policy = policy_with_webhooks(tmp_path / "policy.yaml", receiver.url)
    settings = build_settings(None, tmp_path, routing_policy_file=policy)
    app = build_app(settings)
    engine = app.state.referrals.engine
    migrate(engine, tables.metadata)
    yield Hooks(app, engine, app.state.referrals.desk, receiver)
    engine.dispose()


def sample(agency: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("signpost_webhook_deliveries_total", {"agency": agency, "outcome": outcome})
        or 0.0
    )


async def run(sender: WebhookSender, now: datetime):
    async with httpx.AsyncClient(trust_env=False) as client:
        return await sender.run_once(client, now)


# --------------------------------------------------------------------------- tests


async def test_a_created_referral_is_delivered_once_signed(hooks: Hooks):
    kid = profile(**AUTISTIC)
    seeded = datetime.now(UTC)
    hooks.desk.handle([call(kid, received_by="la_inclusion", share_with_nas=True)], seeded)
    ias_id, nas_id = hooks.ref_id(kid["child_id"], "ias"), hooks.ref_id(kid["child_id"], "nas")
    assert {d["key"]: d["status"] for d in hooks.deliveries()} == {
        f"{ias_id}:v1": "pending",
        f"{nas_id}:v1": "pending",
    }
    delivered_before = sample("nas", "delivered")

    sender = hooks.sender()
    attempts = await run(sender, datetime.now(UTC))
    assert sorted((a.agency, a.outcome) for a in attempts) == [("ias", "delivered"), ("nas", "delivered")]
    assert len(hooks.receiver.requests) == 2
    assert sample("nas", "delivered") == delivered_before + 1

    by_agency = {r.json()["agency"]: r for r in hooks.receiver.requests}
    for agency, ref_id in (("ias", ias_id), ("nas", nas_id)):
        got = by_agency[agency]
        assert got.path == "/hook"
        assert got.headers["idempotency-key"] == f"{ref_id}:v1"
        assert got.headers["content-type"] == "application/json"
        stamp = got.headers["webhook-timestamp"]
        assert abs(int(stamp) - time.time()) < 60
        assert got.headers["webhook-id"] == f"{ref_id}:v1"
        StandardWebhook(SECRET).verify(got.body, got.headers)  # Standard Webhooks: any library checks it
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(OTHER_SECRET).verify(got.body, got.headers)
        body = got.json()
        assert body["id"] == ref_id and body["status"] == "new"
        assert body["reasons"] and body["child"]["child_id"] == kid["child_id"]
    with hooks.engine.connect() as conn:  # each disclosure is in the audit trail (issue 12)
        delivered = conn.execute(select(tables.audit.c.principal, tables.audit.c.object_id).where(tables.audit.c.action == "deliver_referral")).all()
    assert sorted(delivered) == [("webhook:ias", ias_id), ("webhook:nas", nas_id)]
    assert "upn" not in by_agency["nas"].json()["child"]
    assert "school_urn" not in by_agency["nas"].json()["child"]
    assert by_agency["ias"].json()["child"]["upn"] == kid["upn"]

    assert {d["key"]: (d["status"], d["attempts"]) for d in hooks.deliveries()} == {
        f"{ias_id}:v1": ("delivered", 1),
        f"{nas_id}:v1": ("delivered", 1),
    }
    # nothing is sent twice
    assert await run(sender, datetime.now(UTC) + STEP) == []
    assert await run(sender, datetime.now(UTC) + 10 * STEP) == []
    assert len(hooks.receiver.requests) == 2


async def test_a_redelivered_reason_sends_nothing_new_but_a_new_reason_does(hooks: Hooks):
    kid = profile(**SEND)
    first = call(kid, received_by="la_inclusion")
    hooks.desk.handle([first], datetime.now(UTC))
    sender = hooks.sender()
    await run(sender, datetime.now(UTC))
    hooks.desk.handle([first], datetime.now(UTC))  # the same call again
    assert await run(sender, datetime.now(UTC)) == []
    assert len(hooks.receiver.requests) == 1

    hooks.desk.handle(
        [alert(kid, "suspension_days_nearing_limit")], datetime.now(UTC)
    )  # a new reason for the open referral
    attempts = await run(sender, datetime.now(UTC))
    assert [(a.agency, a.outcome) for a in attempts] == [("ias", "delivered")]
    ref_id = hooks.ref_id(kid["child_id"], "ias")
    assert [r.headers["idempotency-key"] for r in hooks.receiver.requests] == [f"{ref_id}:v1", f"{ref_id}:v2"]
    assert len(hooks.receiver.requests[-1].json()["reasons"]) == 2


async def test_a_rebuild_notifies_nobody(hooks: Hooks):
    kid = profile(**SEND)
    rebuild = ReferralDesk(
        hooks.engine, lambda: hooks.app.state.referrals.policy.policy, hooks.desk.calendars, deliver=False
    )
    rebuild.handle([call(kid, received_by="la_inclusion")], datetime.now(UTC))
    assert [d["status"] for d in hooks.deliveries()] == ["skipped"]
    assert await run(hooks.sender(), datetime.now(UTC) + STEP) == []
    assert hooks.receiver.requests == []


async def test_500_twice_then_200_is_three_attempts_then_delivered(hooks: Hooks):
    kid = profile(**SEND)
    hooks.desk.handle([call(kid, received_by="la_inclusion")], datetime.now(UTC))
    ref_id = hooks.ref_id(kid["child_id"], "ias")
    hooks.receiver.statuses[:] = [500, 500, 200]
    retries_before = sample("ias", "retry")
    sender = hooks.sender(base_backoff=1.0)

    now = datetime.now(UTC)
    assert [a.outcome for a in await run(sender, now)] == ["retry"]
    (row,) = hooks.deliveries()
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    assert await run(sender, now - timedelta(seconds=1)) == []  # not due before its backoff

    now += STEP
    assert [a.outcome for a in await run(sender, now)] == ["retry"]
    now += STEP
    assert [a.outcome for a in await run(sender, now)] == ["delivered"]
    (row,) = hooks.deliveries()
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert sample("ias", "retry") == retries_before + 2

    keys = [r.headers["idempotency-key"] for r in hooks.receiver.requests]
    assert keys == [f"{ref_id}:v1"] * 3  # the same key every time: the receiver can tell a retry
    for r in hooks.receiver.requests:
        StandardWebhook(SECRET).verify(r.body, r.headers)

    assert await run(sender, now + STEP) == []  # delivered: no duplicate
    assert len(hooks.receiver.requests) == 3


async def test_always_500_is_dead_after_max_attempts(hooks: Hooks):
    kid = profile(**SEND)
    hooks.desk.handle([call(kid, received_by="la_inclusion")], datetime.now(UTC))
    hooks.receiver.statuses[:] = [500] * 10
    dead_before = sample("ias", "dead")
    sender = hooks.sender(base_backoff=0)

    now = datetime.now(UTC)
    outcomes = []
    for _ in range(5):
        outcomes += [a.outcome for a in await run(sender, now)]
        now += STEP
    assert outcomes == ["retry", "retry", "dead"]
    (row,) = hooks.deliveries()
    assert (row["status"], row["attempts"], row["last_error"]) == ("dead", 3, "HTTP 500")
    assert len(hooks.receiver.requests) == 3
    assert sample("ias", "dead") == dead_before + 1


async def test_an_unreachable_receiver_is_retried_then_dead(hooks: Hooks, tmp_path):
    kid = profile(**SEND)
    hooks.desk.handle([call(kid, received_by="la_inclusion")], datetime.now(UTC))
    unreachable = policy_with_webhooks(
        tmp_path / "unreachable.yaml", "http://127.0.0.1:9/hook"
    )  # discard port: refused
    hooks.app.state.referrals.policy.path = unreachable
    assert hooks.app.state.referrals.policy.reload() is None
    sender = hooks.sender(base_backoff=0)
    now = datetime.now(UTC)
    outcomes = []
    for _ in range(4):
        outcomes += [a.outcome for a in await run(sender, now)]
        now += STEP
    assert outcomes == ["retry", "retry", "dead"]
    (row,) = hooks.deliveries()
    assert row["status"] == "dead" and row["last_error"] == "ConnectError"
